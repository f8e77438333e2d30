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


@pytest.fixture
def search_dag():
    """Parsed afresh for each test: dag.test() writes the run's conf into the DAG's params."""
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


@pytest.mark.s3
def test_search_dag_on_s3_through_the_connection(airflow_db, search_dag, s3_server, monkeypatch, tmp_path):
    import json

    from autodp.airflow_support import resolve_store

    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_STORE", json.dumps({
        "conn_type": "aws", "login": s3_server["access_key_id"], "password": s3_server["secret_access_key"],
        "extra": {"endpoint_url": s3_server["endpoint_url"], "region_name": "us-east-1",
                  "bucket": s3_server["bucket"], "prefix": f"dag-{tmp_path.name}"},
    }))
    source = write_lines(tmp_path / "alpaca.jsonl", [record(), record("Other", output=""), "[]"])
    run = search_dag.test(run_conf={"source": str(source)})
    assert run.state == "success"
    store = resolve_store("")
    [dataset_key] = store.artifacts(DATASETS)
    assert store.manifest(DATASETS, dataset_key)["summary"]["rows_quarantined"] == 1
    assert store.artifacts(PROFILES) == [profile_key(dataset_key)]


@pytest.mark.parametrize("conf, param", [
    ({"source": "x.jsonl", "file_format": "xml"}, "file_format"),
    ({"source": ""}, "source"),
    ({"source": "x.jsonl", "mapping": {"prompt": "q"}}, "mapping"),
    ({"source": "x.jsonl", "max_record_bytes": 10}, "max_record_bytes"),
])
def test_bad_conf_is_refused_naming_the_param(airflow_db, search_dag, conf, param):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=param):
        search_dag.test(run_conf=conf)
