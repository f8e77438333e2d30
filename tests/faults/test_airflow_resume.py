"""SIGKILL a running autodp_search task under a real Airflow (LocalExecutor): Airflow
retries it (the DAGs' tasks have two retries) and the run succeeds; then clear that task
and everything after it through the REST API, as an operator would, and the run succeeds
again. Each time the store, local or S3 (the ``autodp_store`` connection, made through the
REST API), holds only whole artifacts, equal to an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from autodp.orchestration.support import STORE_CONN_ID
from autodp.store import LocalStore
from tests.conftest import airflow_client
from tests.dags.test_autodp_search import QUICK, qa_source
from tests.dags.test_rest_api import _task_states, _wait
from tests.faults.conftest import assert_whole, snapshot

pytestmark = pytest.mark.airflow
TARGETS = ("finetune", "evaluate", "apply")  # the expensive tasks, mapped over the candidates


@pytest.fixture(scope="module")
def api(airflow_services):
    client = airflow_client(airflow_services)
    _wait(lambda: client.get("/api/v2/dags/autodp_search").status_code == 200, 240, "autodp_search parsed",
          airflow_services["services"].home)
    assert client.patch("/api/v2/dags/autodp_search", json={"is_paused": False}).status_code == 200
    return client


def _trigger(api, conf) -> str:
    response = api.post("/api/v2/dags/autodp_search/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 200, response.text
    return response.json()["dag_run_id"]


def _state(api, run_id) -> str:
    return api.get(f"/api/v2/dags/autodp_search/dagRuns/{run_id}").json()["state"]


def _instances(api, run_id) -> list[dict]:
    return api.get(f"/api/v2/dags/autodp_search/dagRuns/{run_id}/taskInstances",
                   params={"limit": 200}).json()["task_instances"]


@pytest.fixture(scope="module")
def uninterrupted(api, tmp_path_factory):
    """The source and the store of one run without a fault, on the local store."""
    folder = tmp_path_factory.mktemp("airflow-reference")
    source = qa_source(folder)
    reference = LocalStore(folder / "reference")
    reference_run = _trigger(api, {"source": str(source), "store": str(reference.root), **QUICK})
    _wait(lambda: _state(api, reference_run) in ("success", "failed"), 900, "the reference run", None)
    assert _state(api, reference_run) == "success", _task_states(api, reference_run)
    return source, reference


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def run_store(request, api, tmp_path):
    """(the run's ``store`` Param, the same store opened here); on S3 the Param is left empty."""
    if request.param == "local":
        store = LocalStore(tmp_path / "store")
        yield str(store.root), store
        return
    from autodp.store.s3 import S3Store

    server = request.getfixturevalue("s3_server")
    prefix = f"airflow-resume-{uuid.uuid4().hex[:8]}"
    made = api.post("/api/v2/connections", json={
        "connection_id": STORE_CONN_ID, "conn_type": "aws", "login": server["access_key_id"],
        "password": server["secret_access_key"],
        "extra": json.dumps({"endpoint_url": server["endpoint_url"], "region_name": "us-east-1",
                             "bucket": server["bucket"], "prefix": prefix})})
    assert made.status_code == 201, made.text
    try:
        yield None, S3Store(server["bucket"], prefix, endpoint_url=server["endpoint_url"], region="us-east-1",
                          access_key_id=server["access_key_id"], secret_access_key=server["secret_access_key"])
    finally:
        assert api.delete(f"/api/v2/connections/{STORE_CONN_ID}").status_code == 204


def test_a_task_killed_mid_run_and_cleared_finishes_with_the_uninterrupted_runs_artifacts(api, uninterrupted,
                                                                                           run_store):
    source, reference = uninterrupted
    store_param, store = run_store
    run_id = _trigger(api, {"source": str(source), "store": store_param, **QUICK})
    killed = None
    deadline = time.monotonic() + 900
    while killed is None and _state(api, run_id) not in ("success", "failed"):
        assert time.monotonic() < deadline, "no expensive task seen running"
        for ti in _instances(api, run_id):
            if ti["state"] == "running" and ti.get("pid") and ti["task_id"].split(".")[-1] in TARGETS:
                os.kill(ti["pid"], signal.SIGKILL)
                killed = ti
                break
        time.sleep(0.2)
    assert killed is not None, "the run finished before any expensive task could be killed"
    _wait(lambda: _state(api, run_id) in ("success", "failed"), 900, "the run with a killed task", None)
    assert _state(api, run_id) == "success", _task_states(api, run_id)
    [retried] = [ti for ti in _instances(api, run_id)
                 if (ti["task_id"], ti["map_index"]) == (killed["task_id"], killed["map_index"])]
    assert retried["try_number"] > killed["try_number"], (killed, retried)  # killed, then retried by Airflow
    assert_whole(store)
    expected = {k: v for k, v in snapshot(reference).items() if k[0] != "published"}
    assert {k: v for k, v in snapshot(store).items() if k[0] != "published"} == expected
    assert store.artifacts("published") == reference.artifacts("published")

    cleared = api.post("/api/v2/dags/autodp_search/clearTaskInstances",
                       json={"dag_run_id": run_id, "task_ids": [killed["task_id"]], "only_failed": False,
                             "include_downstream": True, "reset_dag_runs": True, "dry_run": False})
    assert cleared.status_code == 200, cleared.text
    assert len(cleared.json()["task_instances"]) > 1
    _wait(lambda: _state(api, run_id) in ("success", "failed"), 900, "the cleared run", None)
    assert _state(api, run_id) == "success", _task_states(api, run_id)
    assert_whole(store)
    assert {k: v for k, v in snapshot(store).items() if k[0] != "published"} == expected
    assert store.artifacts("published") == reference.artifacts("published")
