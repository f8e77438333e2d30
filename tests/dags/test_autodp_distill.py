"""autodp_distill through Airflow and `autodp distill` from the command line: one code
path, so the DAG run after the CLI run finds every step stored and registers the same models."""

import json
from pathlib import Path

import pytest

from autodp.artifacts import ADAPTERS, AUGMENTATION_MODELS, DATASETS
from autodp.augmentation.registry import entries
from autodp.cli import main
from autodp.llm.endpoints import LOCAL_MODEL, ROLES
from autodp.store import LocalStore
from tests.conftest import SHARED_DATASETS

SEED_TASKS = SHARED_DATASETS / "alpaca" / "seed_tasks.jsonl"
SETTINGS = {"name": "dag-family", "seeds": 8, "held_out": 3, "clusters": 2, "per_seed": 1, "model": "tiny",
            "lora_steps": 3}

pytestmark = [pytest.mark.airflow,
              pytest.mark.skipif(not SEED_TASKS.is_file(), reason="../shared/datasets is not present")]


def distill_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).get_dag("autodp_distill")


@pytest.fixture
def llm_everywhere(llm_server, monkeypatch):
    for role in ROLES:
        monkeypatch.setenv(f"AUTODP_{role.upper()}_LLM_BASE_URL", llm_server.base_url)
        monkeypatch.setenv(f"AUTODP_{role.upper()}_LLM_MODEL", LOCAL_MODEL)


def test_cli_and_dag_distil_the_same_family(airflow_db, llm_everywhere, tmp_path, capsys):
    store = LocalStore(tmp_path / "store")
    assert main(["distill", str(SEED_TASKS), "--store", str(store.root), "--name", SETTINGS["name"],
                 "--seeds", "8", "--held-out", "3", "--clusters", "2", "--per-seed", "1", "--model", "tiny",
                 "--steps", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    registered = {task: done["entry"]["key"] for task, done in result["tasks"].items()}
    assert len(registered) == 3 and {e["key"] for e in entries(store)} == set(registered.values())
    before = {kind: store.artifacts(kind) for kind in (DATASETS, ADAPTERS, AUGMENTATION_MODELS)}

    # the seeds by their stored dataset's key this time (the CLI ingested the file)
    run = distill_dag().test(run_conf={"source": result["dataset_key"], "store": str(store.root), **SETTINGS})
    assert run.state == "success"
    states = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(ti.state)
    assert states["train"] == ["success"] * 3 and states["register"] == ["success"] * 3
    assert {kind: store.artifacts(kind) for kind in before} == before  # every step was found stored

    assert main(["augmentation-models", "--store", str(store.root)]) == 0
    listed = capsys.readouterr().out
    assert all(key in listed for key in registered.values()) and "dag-family" in listed


@pytest.mark.parametrize("argument, message", [
    (["--tasks", "summarise"], "unknown augmentation task 'summarise'"),
    (["--held-out", "0"], "held_out is 0; it must be at least 1"),
    (["--seeds", "1"], "seeds is 1; it must be at least 2"),
])
def test_bad_settings_are_refused_naming_them(tmp_path, capsys, argument, message):
    assert main(["distill", str(SEED_TASKS), "--store", str(tmp_path / "store"), *argument]) == 2
    assert message in capsys.readouterr().err
