"""autodp_curate: an approved recipe's output for new data is validated and published;
data that fails validation fails the run with a readable report and publishes nothing."""

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from autodp.artifacts import CURATED, DATASETS, EXPORTS, RECIPES
from autodp.cli import main
from autodp.curate import CurateConfig, ValidationFailed, curate, recipe
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.orchestration.main_job import lineage_events_file, openlineage_environment
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.settings import Settings
from autodp.store import LocalStore
from tests.conftest import _free_ports, record, write_lines
from tests.dags.conftest import answered

pytestmark = pytest.mark.airflow


def qa_lines(count, start=0):
    return [record(f"Question {i} about gout?", output="" if i % 7 == 0 else f"Gout answer {i}: rest, fluids.")
            for i in range(start, start + count)]


@pytest.fixture
def approved(tmp_path):
    store = LocalStore(tmp_path / "store")
    key = ingest(str(write_lines(tmp_path / "first.jsonl", qa_lines(50))), store)["dataset_key"]
    config = SearchConfig(iterations=1, candidates=2, method="random", base="tiny", sample_size=30, eval_size=6,
                          operators=("drop_empty_output", "normalize_text", "length_bounds"),
                          lora=LoraSettings(steps=2, batch_size=4), confirm_top=0)
    published = search(key, store, config)["published_key"]
    assert main(["recipe", "approve", published, "--name", "gout", "--reason", "beats raw",
                 "--store", str(store.root)]) == 0
    return store


def curate_dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags")).get_dag("autodp_curate")


def test_approval_records_who_when_and_why(approved):
    chosen = recipe(approved, "gout")
    assert chosen["approved_by"] == getpass.getuser() and chosen["approved_via"] == "cli"
    assert chosen["reason"] == "beats raw" and chosen["approved_at"]
    assert len(approved.artifacts(RECIPES)) == 1


def test_curate_publishes_new_data_and_refuses_data_that_fails_validation(airflow_db, approved, tmp_path):
    new = write_lines(tmp_path / "new.jsonl", qa_lines(48, start=100))
    run = curate_dag().test(run_conf={"recipe": "gout", "source": str(new), "store": str(approved.root)})
    assert run.state == "success"
    [curated] = approved.artifacts(CURATED)
    card = json.loads(approved.read_bytes(approved.artifact_path(CURATED, curated, "data_card.json")))
    assert card["approved_by"] == getpass.getuser() and card["rows"]["ingested"] == 48 and card["validation"]["success"]
    assert card["rows"]["out"] <= card["rows"]["in"] == 48
    folder = approved.root / CURATED / curated  # a Hugging Face dataset, its card rendered from the data card
    assert datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf"))["train"].num_rows == card["rows"]["out"]
    readme = (folder / "README.md").read_text()
    assert "# Data card: gout" in readme and "against the approved search" in readme.split("## Drift")[1]

    shrunk = write_lines(tmp_path / "shrunk.jsonl", qa_lines(6, start=300))  # row count collapses: drift
    run = curate_dag().test(run_conf={"recipe": "gout", "source": str(shrunk), "store": str(approved.root)})
    assert run.state == "failed"
    assert approved.artifacts(CURATED) == [curated]
    with pytest.raises(ValidationFailed, match=r"FAIL\] expect_table_row_count_to_be_between"):
        curate(approved, CurateConfig("gout", str(shrunk)))


def test_curate_names_the_missing_recipe(approved, tmp_path, capsys):
    new = write_lines(tmp_path / "new.jsonl", qa_lines(10))
    assert main(["curate", str(new), "--recipe", "nope", "--store", str(approved.root)]) == 2
    assert "no approved recipe named 'nope'" in capsys.readouterr().err


def test_curate_reports_its_datasets_to_openlineage_and_exports_jsonl(airflow_db, approved, tmp_path):
    """Through `airflow dags test` with the default file transport, as the main job runs Airflow."""
    settings = Settings(home=tmp_path / "home", store_uri=str(approved.root))
    env = {**os.environ, **openlineage_environment(settings)}
    new = write_lines(tmp_path / "new.jsonl", qa_lines(40, start=500))
    conf = {"recipe": "gout", "source": str(new), "store": str(approved.root), "export_layout": "alpaca"}
    ran = subprocess.run([str(Path(sys.executable).parent / "airflow"), "dags", "test", "autodp_curate", "--conf",
                          json.dumps(conf)], env=env, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]

    events = [json.loads(line) for line in lineage_events_file(settings).read_text().splitlines()]
    complete = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
    assert {e["job"]["namespace"] for e in events} == {"autodp"}
    [curated_key] = approved.artifacts(CURATED)
    card = approved.read_json(CURATED, curated_key, "data_card.json")
    folder = f"{approved.root}/{{}}/{{}}"

    def named(datasets):
        return {(d["namespace"], d["name"], d["facets"].get("version", {}).get("datasetVersion")) for d in datasets}

    source_dataset = ("file", folder.format(DATASETS, card["input_dataset_key"]), card["input_dataset_key"])
    output_dataset = ("file", folder.format(DATASETS, card["output_dataset_key"]), card["output_dataset_key"])
    assert named(complete["autodp_curate.ingest"]["inputs"]) == {("file", str(new), None)}
    assert named(complete["autodp_curate.ingest"]["outputs"]) == {source_dataset}
    assert named(complete["autodp_curate.plan"]["inputs"]) == {source_dataset}  # 40 rows: applied in one task
    assert named(complete["autodp_curate.plan"]["outputs"]) == {output_dataset}
    assert named(complete["autodp_curate.publish"]["outputs"]) == {("file", folder.format(CURATED, curated_key),
                                                                     curated_key)}
    [export_key] = approved.artifacts(EXPORTS)
    export_event = complete["autodp_curate.export"]
    assert named(export_event["inputs"]) == {
        ("file", folder.format(DATASETS, card["output_dataset_key"]), card["output_dataset_key"])}
    assert named(export_event["outputs"]) == {("file", folder.format(EXPORTS, export_key), export_key)}
    exported = approved.read_bytes(approved.artifact_path(EXPORTS, export_key, "train.jsonl")).decode().splitlines()
    assert len(exported) == card["rows"]["out"] and set(json.loads(exported[0])) == {"instruction", "input", "output"}


def test_curate_applies_data_above_shard_rows_in_mapped_shard_tasks(airflow_db, approved_dedup, tmp_path):
    store = approved_dedup
    new = write_lines(tmp_path / "new.jsonl", answered(45, start=100) + answered(15, start=100))
    run = curate_dag().test(run_conf={"recipe": "dedup", "source": str(new), "store": str(store.root),
                                      "shard_rows": 20})
    assert run.state == "success"
    states = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(ti.state)
    assert states["shard_round_1"] == ["success"] * 3  # 60 rows in shards of 20: three mapped tasks
    assert states["advance_1"] == ["success"] and states["merge"] == ["success"]
    assert set(states["shard_round_4"]) == {"skipped"}
    [curated] = store.artifacts(CURATED)
    card = store.read_json(CURATED, curated, "data_card.json")
    assert card["shards"] == 3 and card["rows"]["in"] == 60 and card["rows"]["out"] == 45
    assert card["drop_reasons"] == {"exact_dedup": {"exact_duplicate": 15}}

    single = apply_strategy(card["input_dataset_key"], Strategy.from_data(card["strategy"]), store)
    assert records_of(store, card["output_dataset_key"]) == records_of(store, single["output_key"])


def records_of(store, key):
    import duckdb

    return duckdb.sql(f"select * from read_parquet('{store.file_location(DATASETS, key, 'records.parquet')}') "
                      "order by source_row").fetchall()


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on loopback (aiosmtpd), and Airflow's smtp_default connection to it."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

    inbox = Inbox()
    [port] = _free_ports(1)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "autodp@example.org"}}))
    yield inbox.messages
    controller.stop()


def test_the_team_is_told_of_drift_and_of_a_failed_run_by_email(airflow_db, approved, smtp_server, tmp_path):
    from email.header import decode_header, make_header

    def text(message):
        body = message.get_payload()[0].get_payload(decode=True).decode() if message.is_multipart() \
            else message.get_payload(decode=True).decode()
        return str(make_header(decode_header(message["Subject"]))), body

    conf = {"recipe": "gout", "store": str(approved.root), "notify": "team@example.org, lead@example.org"}
    english = write_lines(tmp_path / "week-1.jsonl", qa_lines(48, start=100))
    assert curate_dag().test(run_conf={**conf, "source": str(english)}).state == "success"
    assert smtp_server == []  # like the data the recipe was approved on: nothing to say

    french = [record(f"Question {i} : quels sont les symptômes de la goutte et comment la soigner à la maison ?",
                     output=f"Réponse {i} : la goutte provoque une douleur vive et soudaine dans une articulation ; "
                            "il faut se reposer et boire beaucoup d'eau.") for i in range(20)]
    shifted = write_lines(tmp_path / "week-2.jsonl", qa_lines(28, start=200) + french)
    assert curate_dag().test(run_conf={**conf, "source": str(shifted)}).state == "success"
    [drifted] = smtp_server
    subject, body = text(drifted)
    assert subject.startswith("autodp: recipe gout published with") and "drift breach" in subject
    assert drifted["To"] == "team@example.org, lead@example.org" and drifted["From"] == "autodp@example.org"
    assert "language fr share against the approved search: expected 0.0-0.15, observed 0.4" in body
    assert "/autodp/recipes/gout" in body and "Réponse" not in body  # aggregates, never a record

    shrunk = write_lines(tmp_path / "week-3.jsonl", qa_lines(6, start=300))
    assert curate_dag().test(run_conf={**conf, "source": str(shrunk)}).state == "failed"
    failed = smtp_server[-1]
    subject, body = text(failed)
    assert subject == "autodp: autodp_curate failed at publish (recipe gout)"
    assert "nothing was published" in body and "expect_table_row_count_to_be_between" in body
