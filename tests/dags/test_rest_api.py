"""A real Airflow on loopback: api-server, scheduler and dag-processor (LocalExecutor,
SQLite, parallelism 4). autodp_search is triggered through the REST API with a conf and
runs to success with its artifacts published; a bad conf is refused naming the Param."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from autodp.artifacts import PUBLISHED
from autodp.settings import sqlite_metadata_url
from autodp.store import LocalStore
from tests.conftest import REPO, _free_ports
from tests.dags.test_autodp_search import QUICK, qa_source

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_api(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-rest")
    [port] = _free_ports(1)
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__PARALLELISM": "4",
           "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
           # Only what a test unpauses runs: autodp_curate's schedule would start a run of its own.
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
           "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__API_AUTH__JWT_SECRET": "autodp-test-secret",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_metadata_url(home / "airflow.db"),
           "AUTODP_HOME": str(home / "autodp")}
    airflow = str(Path(sys.executable).parent / "airflow")
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    logs = {name: open(home / f"{name}.log", "w") for name in ("api-server", "scheduler", "dag-processor")}
    processes = [subprocess.Popen([airflow, name], env=env, stdout=log, stderr=subprocess.STDOUT)
                 for name, log in logs.items()]
    base = f"http://127.0.0.1:{port}"
    try:
        client = _client(base, deadline=time.monotonic() + 240, home=home)
        _wait(lambda: client.get("/api/v2/dags/autodp_search").status_code == 200, 240, "autodp_search parsed", home)
        unpaused = client.patch("/api/v2/dags/autodp_search", json={"is_paused": False})
        assert unpaused.status_code == 200, unpaused.text
        yield client
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs.values():
            log.close()


def test_a_run_triggered_through_the_rest_api_succeeds(airflow_api, tmp_path):
    store_dir = tmp_path / "store"
    conf = {"source": str(qa_source(tmp_path)), "store": str(store_dir), **QUICK}
    response = airflow_api.post("/api/v2/dags/autodp_search/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]

    def finished():
        state = airflow_api.get(f"/api/v2/dags/autodp_search/dagRuns/{run_id}").json()["state"]
        assert state != "failed", _task_states(airflow_api, run_id)
        return state == "success"

    _wait(finished, 900, f"run {run_id} to succeed", None)
    store = LocalStore(store_dir)
    [published] = store.artifacts(PUBLISHED)
    assert {"data_card.md", "data_card.json", "audit.jsonl", "result.json"} <= set(
        store.manifest(PUBLISHED, published)["files"])


def test_a_bad_conf_is_refused_naming_the_param(airflow_api):
    response = airflow_api.post("/api/v2/dags/autodp_search/dagRuns",
                                json={"logical_date": None, "conf": {"source": "x.jsonl", "iterations": 99}})
    assert response.status_code == 400
    assert "iterations" in response.text


def _client(base: str, deadline: float, home: Path) -> httpx.Client:
    while True:
        try:
            token = httpx.get(f"{base}/auth/token", timeout=5).json()["access_token"]
            return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        except (httpx.HTTPError, KeyError, ValueError):
            if time.monotonic() > deadline:
                raise AssertionError("the api-server did not answer:\n" + _tail(home / "api-server.log")) from None
            time.sleep(2)


def _wait(condition, seconds: float, what: str, home: Path | None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (
                "\n" + _tail(home / "dag-processor.log") if home else ""))
        time.sleep(3)


def _task_states(client: httpx.Client, run_id: str) -> str:
    instances = client.get(f"/api/v2/dags/autodp_search/dagRuns/{run_id}/taskInstances").json()
    return json.dumps({t["task_id"]: t["state"] for t in instances.get("task_instances", [])})


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else f"(no {path.name})"
