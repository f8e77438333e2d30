"""A real Airflow on loopback: api-server, scheduler and dag-processor (LocalExecutor,
SQLite, parallelism 4). autodp_search is triggered through the REST API with a conf and
runs to success with its artifacts published; a bad conf is refused naming the Param;
autodp_curate applies data in shards as mapped tasks running side by side."""

import json
import time
from pathlib import Path

import httpx
import pytest

from autodp.artifacts import CURATED, PUBLISHED
from autodp.store import LocalStore
from tests.conftest import airflow_client, write_lines
from tests.dags.conftest import answered
from tests.dags.test_autodp_search import QUICK, qa_source

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def airflow_api(airflow_services):
    client = airflow_client(airflow_services)
    _wait(lambda: client.get("/api/v2/dags/autodp_search").status_code == 200, 240, "autodp_search parsed",
          airflow_services["services"].home)
    unpaused = client.patch("/api/v2/dags/autodp_search", json={"is_paused": False})
    assert unpaused.status_code == 200, unpaused.text
    return client


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


def _wait(condition, seconds: float, what: str, home: Path | None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (
                "\n" + _tail(home / "dag-processor.log") if home else ""))
        time.sleep(3)


def _task_states(client: httpx.Client, run_id: str, dag_id: str = "autodp_search") -> str:
    instances = client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
    return json.dumps({t["task_id"]: t["state"] for t in instances.get("task_instances", [])})


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else f"(no {path.name})"


def test_a_curate_run_applies_shards_in_parallel_mapped_tasks(airflow_api, approved_dedup, tmp_path):
    """Sixty rows in shards of twenty: three mapped shard tasks per round, run side by side
    by the LocalExecutor, then the dedup decided once over all of them."""
    unpaused = airflow_api.patch("/api/v2/dags/autodp_curate", json={"is_paused": False})
    assert unpaused.status_code == 200, unpaused.text
    new = write_lines(tmp_path / "new.jsonl", answered(45, start=100) + answered(15, start=100))
    conf = {"recipe": "dedup", "source": str(new), "store": str(approved_dedup.root), "shard_rows": 20}
    response = airflow_api.post("/api/v2/dags/autodp_curate/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]

    def finished():
        state = airflow_api.get(f"/api/v2/dags/autodp_curate/dagRuns/{run_id}").json()["state"]
        assert state != "failed", _task_states(airflow_api, run_id, "autodp_curate")
        return state == "success"

    _wait(finished, 900, f"run {run_id} to succeed", None)
    instances = airflow_api.get(f"/api/v2/dags/autodp_curate/dagRuns/{run_id}/taskInstances").json()
    shards = [t for t in instances["task_instances"] if t["task_id"] == "shard_round_1"]
    assert sorted(t["map_index"] for t in shards) == [0, 1, 2] and {t["state"] for t in shards} == {"success"}
    spans = sorted((t["start_date"], t["end_date"]) for t in shards)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans  # they overlapped
    [curated] = approved_dedup.artifacts(CURATED)
    card = approved_dedup.read_json(CURATED, curated, "data_card.json")
    assert card["shards"] == 3 and card["rows"]["out"] == 45
    note = airflow_api.get(f"/api/v2/dags/autodp_curate/dagRuns/{run_id}").json()["note"]
    assert note.startswith("Curated with recipe [dedup](") and f"`curated/{curated}`" in note
    assert "60 rows ingested (0 quarantined), 60 in, 45 out" in note


@pytest.mark.parametrize("dag_id, conf, param", [
    ("autodp_curate", {"recipe": "r", "source": "x.jsonl", "shard_rows": -5}, "shard_rows"),
    ("autodp_curate", {"recipe": "r", "source": "x.jsonl", "export_layout": "csv"}, "export_layout"),
    ("autodp_curate", {"recipe": "r", "source": "x.jsonl", "max_duplicate_rate": 2}, "max_duplicate_rate"),
    ("autodp_search", {"source": "x.jsonl", "method": "genetic"}, "method"),
    ("autodp_search", {"source": "x.jsonl", "candidates": "many"}, "candidates"),
    ("autodp_distill", {"source": "x.jsonl", "tasks": ["summarise"]}, "tasks"),
    ("autodp_distill", {"source": "x.jsonl", "seeds": 0}, "seeds"),
    ("autodp_distill", {"source": "x.jsonl", "name": "two words"}, "name"),
])
def test_each_bad_param_is_refused_naming_it(airflow_api, dag_id, conf, param):
    response = airflow_api.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 400, response.text
    assert param in response.text
