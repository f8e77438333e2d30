"""autodp_search runs end to end under Airflow (dag.test) and stores what it says it did."""

from pathlib import Path

import pytest

from autodp.artifacts import DATASETS, PROFILES, PUBLISHED
from autodp.search.value_judge import SIGNAL
from autodp.store import LocalStore
from autodp.tables.profile import profile_key
from tests.conftest import record, write_lines

pytestmark = pytest.mark.airflow


@pytest.fixture
def search_dag():
    """Parsed afresh for each test: dag.test() writes the run's conf into the DAG's params."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))
    return bag.get_dag("autodp_search")


def qa_source(tmp_path, broken_lines=0):
    lines = [record(f"Question {i} about asthma?", output="" if i % 6 == 0 else f"Answer {i % 5}: see a doctor.")
             for i in range(60)] + ['{"instruction": "Broken", "output": '] * broken_lines
    return write_lines(tmp_path / "qa.jsonl", lines)


QUICK = {"method": "random", "iterations": 2, "candidates": 2, "model": "tiny", "lora_steps": 3, "sample_size": 30,
         "eval_size": 6, "confirm_top": 1, "confirm_seeds": 2, "confirm_steps": 2, "confirm_size": 4}


def test_search_dag_runs_the_whole_loop_and_a_rerun_redoes_nothing(airflow_db, tmp_path):
    """Iterations past the Param are skipped; models are judged on the trusted evaluation set
    the form names; the second run of the same conf finds every expensive step (prefixes,
    adapters, verdicts, the published result) in the store."""
    from airflow.dag_processing.dagbag import DagBag

    from autodp.artifacts import ADAPTERS, DATA_CARD_FILE, FEATURES

    store_dir = tmp_path / "store"
    trusted = write_lines(tmp_path / "trusted.jsonl", [record(f"Is asthma {i} serious?", output=f"Often, see {i}.")
                                                       for i in range(5)])
    source = qa_source(tmp_path, broken_lines=1)
    conf = {"source": str(source), "store": str(store_dir), "eval": str(trusted), **QUICK}

    def run_once():
        dag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).get_dag("autodp_search")
        run = dag.test(run_conf=conf)
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        return run, states, {ti.task_id: ti for ti in run.get_task_instances()}

    run, states, tis = run_once()
    assert run.state == "success", states
    assert states["iteration_1.reflect"] == states["iteration_2.reflect"] == "success"
    assert all(states[f"iteration_{n}.propose"] == "skipped" for n in (3, 4, 5))
    store = LocalStore(store_dir)
    ingested = {store.manifest(DATASETS, k)["provenance"]["source"]: k for k in store.artifacts(DATASETS)
                if store.manifest(DATASETS, k)["provenance"]["step"] == "ingest"}
    dataset_key = ingested[str(source)]
    summary = store.manifest(DATASETS, dataset_key)["summary"]
    assert (summary["rows_in"], summary["rows_kept"], summary["rows_quarantined"]) == (61, 60, 1)
    assert profile_key(dataset_key) in store.artifacts(PROFILES)
    [published] = store.artifacts(PUBLISHED)
    card = store.read_json(PUBLISHED, published, DATA_CARD_FILE)
    score, confirmation = card["score"], card["confirmation"]
    # The trusted set's 5 examples: 3 score the candidates, 2 (4 of 10 asked for) only the confirmation.
    assert (score["evaluation"], score["evaluation_examples"], confirmation["examples"]) == ("trusted_set", 3, 2)
    assert states["confirm"] == "success" and len(confirmation["candidates"]) == 1 and confirmation["seeds"] == 2
    assert tis["publish"].xcom_pull(task_ids="publish")["verdict"] == confirmation["verdict"]
    split = store.manifest(DATASETS, score["evaluation_key"])["summary"]
    assert split["source_dataset_key"] == ingested[str(trusted)] and split["held_out_rows"] == 0
    adapters, features = set(store.artifacts(ADAPTERS)), set(store.artifacts(FEATURES))
    assert len(adapters) == 4  # only the confirmation's: raw and the candidate, two seeds each
    assert len(features) == 2  # the sample's and the references': candidates are valued without training

    again, states, tis = run_once()
    assert again.state == "success", states
    assert set(store.artifacts(ADAPTERS)) == adapters and store.artifacts(PUBLISHED) == [published]
    assert set(store.artifacts(FEATURES)) == features
    evaluated = [entry for name, ti in tis.items() if name.endswith(".reflect") and ti.state == "success"
                 for entry in ti.xcom_pull(task_ids=name)["history"]]
    assert evaluated and all(e["cache_hits"] == len(e["steps"]) for e in evaluated)
    assert all(e["verdict_cached"] and e["value"]["signal"] == SIGNAL for e in evaluated)


@pytest.mark.s3
def test_search_dag_on_s3_through_the_connection(airflow_db, search_dag, s3_server, monkeypatch, tmp_path):
    """The store and the source both on S3; the main job then finds the published result by
    the source's URL."""
    import json

    import boto3

    from autodp.orchestration.main_job import _published_for
    from autodp.orchestration.support import resolve_store

    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_STORE", json.dumps({
        "conn_type": "aws", "login": s3_server["access_key_id"], "password": s3_server["secret_access_key"],
        "extra": {"endpoint_url": s3_server["endpoint_url"], "region_name": "us-east-1",
                  "bucket": s3_server["bucket"], "prefix": f"dag-{tmp_path.name}"},
    }))
    for name, value in {"AWS_ACCESS_KEY_ID": s3_server["access_key_id"], "AWS_ENDPOINT_URL": s3_server["endpoint_url"],
                        "AWS_SECRET_ACCESS_KEY": s3_server["secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    incoming = f"incoming-{tmp_path.name}/qa.jsonl"
    boto3.client("s3").upload_file(str(qa_source(tmp_path, broken_lines=1)), s3_server["bucket"], incoming)
    conf = {"source": f"s3://{s3_server['bucket']}/{incoming}", **QUICK}
    resolved = {**search_dag.params.dump(), **conf}  # the main job passes every Param
    run = search_dag.test(run_conf=conf)
    assert run.state == "success"
    store = resolve_store("")
    ingested = [k for k in store.artifacts(DATASETS) if store.manifest(DATASETS, k)["provenance"]["step"] == "ingest"]
    assert [store.manifest(DATASETS, k)["summary"]["rows_quarantined"] for k in ingested] == [1]
    [published] = store.artifacts(PUBLISHED)
    assert _published_for(store, resolved)["published_key"] == published
    with pytest.raises(RuntimeError, match="no result for this source"):
        _published_for(store, {**resolved, "source": f"s3://{s3_server['bucket']}/incoming/other.jsonl"})


@pytest.mark.parametrize("conf, param", [
    ({"source": "x.jsonl", "file_format": "xml"}, "file_format"),
    ({"source": ""}, "source"),
    ({"source": "x.jsonl", "mapping": {"prompt": "q"}}, "mapping"),
    ({"source": "x.jsonl", "max_record_bytes": 10}, "max_record_bytes"),
    ({"source": "x.jsonl", "iterations": 9}, "iterations"),
    ({"source": "x.jsonl", "method": "grid"}, "method"),
])
def test_bad_conf_is_refused_naming_the_param(airflow_db, search_dag, conf, param):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=param):
        search_dag.test(run_conf=conf)
