"""The store an Airflow task uses: its Param, else the autodp_store connection, else settings."""

import json
import os

import pytest

from autodp.airflow_support import resolve_store, store_from_connection_fields
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


def test_llm_connections_point_the_roles_at_their_endpoints(monkeypatch):
    from autodp.airflow_support import use_llm_connections
    from autodp.llm.endpoints import Endpoint

    for role in ("AGENT", "DATA", "JUDGE"):
        for name in ("BASE_URL", "MODEL", "API_KEY", "TRUSTED"):
            monkeypatch.delenv(f"AUTODP_{role}_LLM_{name}", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_DATA", json.dumps({
        "conn_type": "http", "host": "https://llm.internal.example/v1", "password": "sk-data",
        "extra": {"model": "med-70b", "trusted": True}}))
    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_LLM_AGENT", json.dumps({
        "conn_type": "http", "host": "https://api.example.com/v1", "password": "sk-agent",
        "extra": {"model": "planner"}}))
    try:
        use_llm_connections()
        data, agent, judge = (Endpoint.from_env(role) for role in ("data", "agent", "judge"))
    finally:  # use_llm_connections sets the task process's environment; undo it here
        for role in ("AGENT", "DATA"):
            for name in ("BASE_URL", "MODEL", "API_KEY", "TRUSTED"):
                os.environ.pop(f"AUTODP_{role}_LLM_{name}", None)
    assert (data.base_url, data.model, data.api_key, data.trusted) == (
        "https://llm.internal.example/v1", "med-70b", "sk-data", True)
    assert (agent.base_url, agent.model, agent.trusted) == ("https://api.example.com/v1", "planner", False)
    assert judge.base_url.startswith("http://127.0.0.1") and judge.trusted  # no connection: the local default
