"""autodp_search runs end to end under Airflow (dag.test) and stores what it says it did."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autodp.ingest import DATASETS
from autodp.profile import PROFILES, profile_key
from autodp.store import LocalStore
from tests.conftest import record, write_lines

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="session")
def airflow_db():
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def search_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    return bag.get_dag("autodp_search")


def test_search_dag_ingests_and_profiles(airflow_db, search_dag, tmp_path):
    source = write_lines(tmp_path / "qa.jsonl", [
        '{"question": "What is gout?", "answer": "A form of arthritis."}',
        '{"question": "What is asthma?", "answer": ""}',
        '{"question": "Broken", "answer": ',
    ])
    store_dir = tmp_path / "store"
    run = search_dag.test(run_conf={
        "source": str(source),
        "mapping": {"instruction": "question", "output": "answer"},
        "store": str(store_dir),
    })
    assert run.state == "success"

    store = LocalStore(store_dir)
    [dataset_key] = store.artifacts(DATASETS)
    summary = store.manifest(DATASETS, dataset_key)["summary"]
    assert (summary["rows_in"], summary["rows_kept"], summary["rows_quarantined"]) == (3, 2, 1)
    assert store.artifacts(PROFILES) == [profile_key(dataset_key)]
