"""The store an Airflow task uses: its Param, else the autodp_store connection, else settings."""

import json
import os

import pytest

from autodp.orchestration.support import resolve_store, store_from_connection_fields
from autodp.settings import Settings
from autodp.store import LocalStore
from autodp.store.s3 import S3Store


def test_param_wins(tmp_path):
    store = resolve_store(str(tmp_path))
    assert isinstance(store, LocalStore) and store.root == tmp_path.resolve()


def test_without_connection_the_settings_store(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AUTODP_STORE", raising=False)
    assert resolve_store("").uri == Settings.from_env().store_uri


@pytest.mark.s3
def test_aws_connection_opens_s3(s3_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_STORE", json.dumps({
        "conn_type": "aws",
        "login": s3_server["access_key_id"],
        "password": s3_server["secret_access_key"],
        "extra": {"endpoint_url": s3_server["endpoint_url"], "region_name": "us-east-1",
                  "bucket": s3_server["bucket"], "prefix": "from-connection"},
    }))
    store = resolve_store("")
    assert isinstance(store, S3Store)
    assert store.uri == f"s3://{s3_server['bucket']}/from-connection"
    store.write_bytes("probe", b"ok")
    assert store.read_bytes("probe") == b"ok"


def test_connection_without_bucket_is_refused():
    with pytest.raises(ValueError, match="needs a 'bucket'"):
        store_from_connection_fields("k", "s", {"endpoint_url": "http://127.0.0.1:1"})


LLM_VARIABLES = [f"AUTODP_{role}_LLM_{name}" for role in ("AGENT", "DATA", "JUDGE")
                 for name in ("BASE_URL", "MODEL", "API_KEY", "TRUSTED")]


@pytest.fixture
def no_llm_settings(monkeypatch):
    for name in LLM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for role in ("AGENT", "DATA", "JUDGE"):
        monkeypatch.delenv(f"AIRFLOW_CONN_AUTODP_LLM_{role}", raising=False)


def test_llm_connections_point_the_roles_at_their_endpoints(no_llm_settings, monkeypatch):
    from autodp.orchestration.support import task_resources

    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_DATA", json.dumps({
        "conn_type": "http", "host": "https://llm.internal.example/v1", "password": "sk-data",
        "extra": {"model": "med-70b", "trusted": True}}))
    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_AGENT", json.dumps({
        "conn_type": "http", "host": "https://api.example.com/v1", "password": "sk-agent",
        "extra": {"model": "planner"}}))
    endpoints = task_resources().endpoints
    data, agent, judge = endpoints["data"], endpoints["agent"], endpoints["judge"]
    assert (data.base_url, data.model, data.api_key, data.trusted) == (
        "https://llm.internal.example/v1", "med-70b", "sk-data", True)
    assert (agent.base_url, agent.model, agent.trusted) == ("https://api.example.com/v1", "planner", False)
    assert judge.base_url.startswith("http://127.0.0.1") and judge.trusted  # no connection: the local default
    assert not [name for name in LLM_VARIABLES if name in os.environ]


def test_connection_without_host_is_refused(no_llm_settings, monkeypatch):
    from autodp.orchestration.support import task_resources

    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_JUDGE", json.dumps({"conn_type": "http", "extra": {"model": "m"}}))
    with pytest.raises(ValueError, match="'autodp_llm_judge': host must be"):
        task_resources()


ENDPOINT_DAG = """
from datetime import datetime

from airflow.sdk import dag, task


@dag(dag_id="autodp_endpoint_probe", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
     tags=["test"])
def autodp_endpoint_probe():
    @task
    def endpoints() -> dict:
        from autodp.orchestration.support import task_resources

        resources = task_resources()
        return {role: [e.base_url, e.model] for role, e in resources.endpoints.items()}

    endpoints()


autodp_endpoint_probe()
"""


@pytest.mark.airflow
def test_two_tasks_in_one_process_see_only_their_own_connections(airflow_db, no_llm_settings, monkeypatch,
                                                                 tmp_path):
    """A Celery worker runs many tasks in one process: the first task's endpoint (from its
    connection) must not reach the next, which has none and gets the default."""
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "probe.py").write_text(ENDPOINT_DAG)
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": "autodp-probe", "classpath": local, "kwargs": {"path": str(tmp_path)}}]))

    def run_task() -> dict:
        dag = DagBag(dag_folder=str(tmp_path)).get_dag("autodp_endpoint_probe")
        run = dag.test()
        assert run.state == "success"
        [ti] = run.get_task_instances()
        return ti.xcom_pull(task_ids="endpoints")

    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_DATA", json.dumps({
        "conn_type": "http", "host": "https://team-a.internal/v1", "extra": {"model": "a-70b", "trusted": True}}))
    first = run_task()
    monkeypatch.delenv("AIRFLOW_CONN_AUTODP_LLM_DATA")
    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_AGENT", json.dumps({
        "conn_type": "http", "host": "https://team-b.example/v1", "extra": {"model": "b-planner"}}))
    second = run_task()

    assert first["data"] == ["https://team-a.internal/v1", "a-70b"]
    assert first["agent"][0].startswith("http://127.0.0.1")
    assert second["agent"] == ["https://team-b.example/v1", "b-planner"]
    assert second["data"][0].startswith("http://127.0.0.1")  # not team A's
    assert not [name for name in LLM_VARIABLES if name in os.environ]
