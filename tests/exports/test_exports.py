"""Outputs that fit the ecosystem: a dataset as a Hugging Face dataset folder that the
`datasets` package loads, and as Alpaca or ShareGPT JSONL that autodp's own ingest reads
back to the same records."""

import json
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.cli import main
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.exports import export
from autodp.exports.huggingface import HF_COLUMNS, hf_dataset_files, size_category
from autodp.ingest import ingest
from autodp.tables import engine
from tests.conftest import record, write_lines

ROWS = 23


def source_lines():
    lines = [record(f"What helps with migraine {i}?", output="" if i % 6 == 0 else f"Rest in a dark room ({i}).",
                    ward=f"W{i % 3}") for i in range(ROWS - 3)]
    lines.append(record("Summarise the note.", input_="Patient reports a headache since Monday.",
                        output="A headache since Monday."))
    lines += [json.dumps({"conversations": [{"from": "system", "value": "You are a nurse."},
                                            {"from": "human", "value": f"Hello {i}"}, {"from": "gpt", "value": "Hi."},
                                            {"from": "human", "value": f"Is {i} mg too much?"},
                                            {"from": "gpt", "value": "Ask your doctor."}]}) for i in range(2)]
    return lines


@pytest.fixture
def curated(store, tmp_path):
    """An ingested mix of Alpaca and ShareGPT rows, with the empty answers dropped."""
    alpaca = ingest(str(write_lines(tmp_path / "a.jsonl", source_lines()[:ROWS - 2])), store)["dataset_key"]
    applied = apply_strategy(alpaca, Strategy.from_data([{"operator": "drop_empty_output"}]), store)
    return store, applied


def records(store, key):
    with engine.connect(store) as con:
        return con.execute("select record_id, instruction, input, output from read_parquet(?) order by source_row",
                           [store.file_location(DATASETS, key, RECORDS_FILE)]).fetchall()


def test_a_dataset_is_a_hugging_face_dataset_in_shards(curated, tmp_path):
    store, applied = curated
    folder = tmp_path / "hf"
    files = hf_dataset_files(store, applied["output_key"], folder, "# Data card\n\nrows and reasons", "a test set",
                             license="cc-by-4.0", shard_rows=7)
    rows = applied["rows_out"]
    shards = sorted(name for name in files if name.startswith("data/"))
    assert shards == [f"data/train-{i:05d}-of-00003.parquet" for i in range(3)]
    assert [pq.read_metadata(files[name]).num_rows for name in shards] == [7, 7, rows - 14]

    header = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
    assert header["license"] == "cc-by-4.0" and header["size_categories"] == ["n<1K"]
    assert header["task_categories"] == ["text-generation"]
    assert header["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    assert header["dataset_info"]["splits"][0]["num_examples"] == rows
    body = (folder / "README.md").read_text()
    assert "# Data card" in body and all(f"| `{name}` |" in body for name, _, _ in HF_COLUMNS)

    cache = str(tmp_path / "hf-cache")
    by_files = datasets.load_dataset("parquet", data_files=[str(files[n]) for n in shards], cache_dir=cache)
    assert by_files["train"].num_rows == rows
    by_folder = datasets.load_dataset(str(folder), cache_dir=cache)  # reads the card's configs and features
    assert list(by_folder) == ["train"] and by_folder["train"].num_rows == rows
    assert list(by_folder["train"].features) == [name for name, _, _ in HF_COLUMNS]
    stored = records(store, applied["output_key"])
    assert [(r["record_id"], r["output"]) for r in by_folder["train"]] == [(r[0], r[3]) for r in stored]


def test_size_categories_follow_the_hub_buckets():
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 4_000_000)] == \
        ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]


def test_alpaca_export_ingests_back_to_the_same_records(curated, tmp_path):
    store, applied = curated
    out = tmp_path / "out" / "train.jsonl"
    result = export(store, applied["output_key"], out, "alpaca")
    assert result["rows"] == applied["rows_out"] == len(out.read_text().splitlines())
    assert set(json.loads(out.read_text().splitlines()[0])) == {"instruction", "input", "output"}
    back = ingest(str(out), store)
    assert back["rows_quarantined"] == 0
    assert [r[1:] for r in records(store, back["dataset_key"])] == [r[1:] for r in records(store, applied["output_key"])]
    assert [r[0] for r in records(store, back["dataset_key"])] == [r[0] for r in records(store, applied["output_key"])]


def test_sharegpt_export_keeps_system_prompt_and_earlier_turns(local_store, tmp_path):
    conversations = source_lines()[ROWS - 2:]
    key = ingest(str(write_lines(tmp_path / "c.jsonl", conversations)), local_store)["dataset_key"]
    out = tmp_path / "chat.jsonl"
    assert main(["export", key, "--layout", "sharegpt", "--out", str(out), "--store", str(local_store.root)]) == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == [json.loads(c) for c in conversations]
    back = ingest(str(out), local_store)
    assert records(local_store, back["dataset_key"]) == records(local_store, key)


def test_sharegpt_has_no_input_field_so_an_input_follows_the_instruction(curated, tmp_path):
    store, applied = curated
    out = tmp_path / "chat.jsonl"
    export(store, applied["output_key"], out, "sharegpt")
    assert {"conversations": [{"from": "human", "value": "Summarise the note.\n\nPatient reports a headache since "
                                                       "Monday."},
                              {"from": "gpt", "value": "A headache since Monday."}]} in \
        [json.loads(line) for line in out.read_text().splitlines()]


def test_export_names_what_it_cannot_find_and_writes_nothing(local_store, tmp_path, capsys):
    out = tmp_path / "nothing.jsonl"
    assert main(["export", "0" * 64, "--out", str(out), "--store", str(local_store.root)]) == 2
    assert "is not a published search, a curated run or a dataset" in capsys.readouterr().err
    assert not out.exists()


def test_hf_export_of_a_dataset_key_writes_a_loadable_folder(curated, tmp_path):
    store, applied = curated
    out = tmp_path / "hf-export"
    result = export(store, applied["output_key"], out, "hf")
    assert result["rows"] == applied["rows_out"] and result["files"][0] == "README.md"
    assert datasets.load_dataset(str(out), cache_dir=str(tmp_path / "c"))["train"].num_rows == applied["rows_out"]
    with pytest.raises(ValueError, match="is not empty"):
        export(store, applied["output_key"], out, "hf")
    assert Path(result["path"]) == out
