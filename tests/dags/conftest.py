"""Fixtures of the DAG tests."""

import pytest

from autodp.cli import main
from autodp.ingest import ingest
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.store import LocalStore
from tests.conftest import record, write_lines


def answered(count, start=0):
    return [record(f"Question {i} about gout?", output=f"Gout answer {i}: rest, fluids.")
            for i in range(start, start + count)]


@pytest.fixture
def approved_dedup(tmp_path):
    """A recipe of exact dedup only: every strategy the search can find needs the whole dataset."""
    store = LocalStore(tmp_path / "dedup-store")
    lines = answered(40) + answered(10)  # ten questions asked twice, far apart
    key = ingest(str(write_lines(tmp_path / "first.jsonl", lines)), store)["dataset_key"]
    config = SearchConfig(iterations=1, candidates=1, method="random", base="tiny", sample_size=30, eval_size=6, confirm_top=0,
                          operators=("exact_dedup",), lora=LoraSettings(steps=2, batch_size=4))
    published = search(key, store, config)["published_key"]
    assert main(["recipe", "approve", published, "--name", "dedup", "--reason", "fewer repeats",
                 "--store", str(store.root)]) == 0
    return store
