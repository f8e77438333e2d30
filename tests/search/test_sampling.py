"""Distribution Preserving Sampling: exact size, proportional strata, determinism, fidelity."""

import json

import pytest

from autodp.ingest import ingest
from autodp.operators.resources import Resources
from autodp.search.sampling import fidelity_report, sample
from autodp.settings import Settings
from tests.conftest import write_lines
from tests.ingest.helpers import records


@pytest.fixture
def embedding_resources(tmp_path):
    return Resources(settings=Settings(home=tmp_path / "home", store_uri=str(tmp_path / "store")))


def topics_dataset(tmp_path, store):
    lines = []
    for i in range(40):
        lines.append(json.dumps({"instruction": f"What is a symptom of asthma case {i}?", "input": "",
                                 "output": "Wheezing." + " More detail." * (i % 4), "label": "med"}))
    for i in range(20):
        lines.append(json.dumps({"instruction": f"Which exchange lists stock {i}?", "input": "",
                                 "output": "NASDAQ." + " Extra." * (i % 4), "label": "fin"}))
    return ingest(str(write_lines(tmp_path / "d.jsonl", lines)), store)["dataset_key"]


def test_sample_is_exact_proportional_and_deterministic(local_store, tmp_path, embedding_resources):
    key = topics_dataset(tmp_path, local_store)
    first = sample(key, local_store, size=15, clusters=2, length_buckets=2, resources=embedding_resources)
    assert first["rows"] == 15 and first["rows_full"] == 60
    picked = records(local_store, first["dataset_key"])
    assert len(picked) == 15
    assert sum("asthma" in r["instruction"] for r in picked) == 10  # 40/60 of 15
    again = sample(key, local_store, size=15, clusters=2, length_buckets=2, resources=embedding_resources)
    assert again["cached"] and again["dataset_key"] == first["dataset_key"]
    other = sample(key, local_store, size=15, clusters=2, length_buckets=2, seed=1, resources=embedding_resources)
    assert {r["source_row"] for r in records(local_store, other["dataset_key"])} != {r["source_row"] for r in picked}


def test_fidelity_report_is_aggregates_only(local_store, tmp_path, embedding_resources):
    key = topics_dataset(tmp_path, local_store)
    result = sample(key, local_store, fraction=0.5, clusters=2, length_buckets=2, label_column="label",
                    resources=embedding_resources)
    report = fidelity_report(local_store, result["dataset_key"])
    assert report["rows_sample"] == 30
    assert sum(s["full_share"] for s in report["strata"]) == pytest.approx(1)
    assert report["max_share_gap"] <= 1 / 30 + 1e-9
    assert report["js_divergence"] < 0.01
    assert {s["stratum"].split("/")[2] for s in report["strata"]} == {"med", "fin"}
    text = json.dumps(report)
    assert "asthma" not in text and "NASDAQ" not in text


def test_excluded_rows_never_enter_the_sample(local_store, tmp_path, embedding_resources):
    key = topics_dataset(tmp_path, local_store)
    result = sample(key, local_store, fraction=1.0, clusters=1, exclude_rows=frozenset(range(1, 11)),
                    resources=embedding_resources)
    rows = {r["source_row"] for r in records(local_store, result["dataset_key"])}
    assert rows == set(range(11, 61))


def test_a_large_input_is_stratified_on_a_uniform_frame(local_store, tmp_path, embedding_resources):
    key = topics_dataset(tmp_path, local_store)
    result = sample(key, local_store, size=5, clusters=2, length_buckets=2, frame_rows=20,
                    resources=embedding_resources)
    assert embedding_resources.embedder.computed == 20  # only the frame's prompts were embedded
    report = fidelity_report(local_store, result["dataset_key"])
    assert (report["rows_full"], report["frame_rows"], report["rows_sample"]) == (60, 20, 5)
    assert result["fidelity"]["frame_rows"] == 20
    assert sum(s["full_share"] for s in report["strata"]) == pytest.approx(1)
    full_lengths = [len(r["output"]) for r in records(local_store, key)]
    assert report["output_length_mean"]["full"] == pytest.approx(sum(full_lengths) / 60, abs=0.01)  # every row
    again = sample(key, local_store, size=5, clusters=2, length_buckets=2, frame_rows=20,
                   resources=Resources(settings=embedding_resources.settings))
    assert again["cached"] and again["dataset_key"] == result["dataset_key"]
    unframed = sample(key, local_store, size=5, clusters=2, length_buckets=2, frame_rows=None,
                      resources=embedding_resources)
    assert unframed["dataset_key"] != result["dataset_key"] and unframed["fidelity"]["frame_rows"] == 60


@pytest.mark.parametrize("options, message", [({}, "exactly one"), ({"size": 0}, "at least 1"),
                                              ({"fraction": 1.5}, "fraction"),
                                              ({"size": 5, "frame_rows": 0}, "frame_rows")])
def test_bad_sizes_are_refused(local_store, tmp_path, options, message):
    key = topics_dataset(tmp_path, local_store)
    with pytest.raises(ValueError, match=message):
        sample(key, local_store, **options)
