"""The profile: right aggregates, computed by dbt over local or S3 data, and no record text."""

import json

import pytest

from autodp.artifacts import PROFILES
from autodp.ingest import ingest
from autodp.tables.profile import profile, profile_key
from tests.conftest import SHARED_DATASETS, record, write_lines


def small_dataset(path):
    return write_lines(path, [
        record("What is asthma?", output="A chronic lung disease.", topic="lungs"),
        record("What is asthma?", output="A chronic lung disease.", topic="lungs"),   # exact duplicate
        record("what is ASTHMA? ", output="Airway inflammation.", topic="lungs"),   # duplicate instruction
        record("Define gout.", output=""),                                            # empty output
        record("Define gout.", input_="<No Input>", output="<nooutput>"),              # placeholders
        record("List three fruits.", input_="N/A", output="Apple, pear, plum."),
        json.dumps({"instruction": "Broken", "output": 7}),                            # quarantined
    ])


def test_profile_counts(store, tmp_path):
    dataset = ingest(str(small_dataset(tmp_path / "d.jsonl")), store)
    report = profile(dataset["dataset_key"], store)

    assert report["rows"] == 6
    assert report["ingest"] == {"rows_in": 7, "rows_kept": 6, "rows_quarantined": 1,
                                "quarantine_reasons": {"wrong_type": 1}}
    output, input_ = report["fields"]["output"], report["fields"]["input"]
    assert (output["empty_count"], output["placeholder_count"]) == (1, 1)
    assert (input_["empty_count"], input_["placeholder_count"]) == (4, 2)
    assert output["empty_rate"] == pytest.approx(1 / 6, abs=1e-6)
    assert report["fields"]["instruction"]["chars_max"] == len("List three fruits.")
    assert sum(b["rows"] for b in output["chars_histogram"]) == 6
    duplicates = report["duplicates"]
    assert duplicates["duplicate_records"] == 1
    assert duplicates["duplicate_instructions"] == 3
    assert report["metadata_fields"]["topic"] == {
        "rows_present": 3, "rows_non_null": 3, "distinct_values": 1, "json_types": "VARCHAR"}
    assert report["languages"]["sample_rows"] == 6
    assert store.has(PROFILES, profile_key(dataset["dataset_key"]))


def test_profile_is_computed_once(local_store, tmp_path):
    key = ingest(str(small_dataset(tmp_path / "d.jsonl")), local_store)["dataset_key"]
    first = profile(key, local_store)
    stored = local_store.list(PROFILES)
    assert profile(key, local_store) == first
    assert local_store.list(PROFILES) == stored


def test_no_record_text_reaches_the_profile(local_store, tmp_path):
    canaries = [f"CANARY{i:03d}zq" for i in range(8)]
    lines = [
        record(f"Explain {canaries[0]} please", input_=canaries[1], output=f"It is {canaries[2]}.",
               patient=canaries[3], nested={"note": canaries[4]}),
        record(canaries[5], output=canaries[5]),
        record("Short", output=canaries[6]),
        json.dumps({"instruction": canaries[7], "output": 1}),   # quarantined row's text too
    ]
    key = ingest(str(write_lines(tmp_path / "d.jsonl", lines)), local_store)["dataset_key"]
    text = json.dumps(profile(key, local_store))
    leaked = [c for c in canaries if c.lower() in text.lower()]
    assert leaked == []


@pytest.mark.skipif(not (SHARED_DATASETS / "medquad").is_dir(), reason="../shared/datasets is not present")
def test_medquad_empty_answers_are_reported(local_store):
    source = SHARED_DATASETS / "medquad" / "medquad_all_flat.jsonl.gz"
    dataset = ingest(str(source), local_store, mapping=["instruction=question", "output=answer"])
    assert (dataset["rows_in"], dataset["rows_quarantined"]) == (47441, 0)
    report = profile(dataset["dataset_key"], local_store)
    assert report["fields"]["output"]["empty_count"] == 31034
    assert report["fields"]["instruction"]["empty_count"] == 0
    assert report["languages"]["shares"]["en"] > 0.9


def test_a_profile_larger_than_its_memory_budget_spills_and_counts_the_same(local_store, tmp_path):
    """100,000 records (about 90 MB of text) under a 128MB DuckDB budget: dbt's models
    spill to autodp's spill folder instead of failing, and the duplicate counts equal an
    unbudgeted count."""
    import random

    import duckdb

    from autodp.artifacts import DATASETS, RECORDS_FILE
    from autodp.settings import Settings

    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    lines = []
    for i in range(100_000):
        instruction = f"What is w{i % 7}?" if i % 10 == 0 else " ".join(rng.choices(words, k=12))
        lines.append(json.dumps({"instruction": instruction, "output": " ".join(rng.choices(words, k=rng.randint(1, 300)))}))
    key = ingest(str(write_lines(tmp_path / "d.jsonl", lines)), local_store)["dataset_key"]
    settings = Settings(home=tmp_path / "home", store_uri=str(local_store.root), duckdb_memory_limit="128MB")
    report = profile(key, local_store, settings)
    records = local_store.file_location(DATASETS, key, RECORDS_FILE)
    expected = duckdb.execute("""
        select count(*) - count(distinct record_id), count(*) - count(distinct lower(trim(instruction)))
        from read_parquet(?)""", [records]).fetchone()
    assert report["rows"] == 100_000
    assert (report["duplicates"]["duplicate_records"], report["duplicates"]["duplicate_instructions"]) == expected
    assert expected[1] > 0
