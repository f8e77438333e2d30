"""Cache-and-Reuse: a repeated strategy costs a lookup; a shared prefix is computed once."""

from autodp.artifacts import DATASETS
from autodp.execution.executor import apply_strategy, prefix_keys
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from tests.conftest import record, write_lines
from tests.ingest.helpers import records


def dataset(store, tmp_path):
    lines = [record(f"Question {i % 40}?", output="" if i % 7 == 0 else f"Answer {i % 40}.") for i in range(200)]
    lines.append(record("Say\x07 hi", input_="<noinput>", output="Hi"))
    return ingest(str(write_lines(tmp_path / "d.jsonl", lines)), store)["dataset_key"]


def test_apply_counts_add_up(store, tmp_path):
    key = dataset(store, tmp_path)
    strategy = Strategy.from_data(["normalize_text", "drop_empty_output", "exact_dedup"])
    result = apply_strategy(key, strategy, store)
    assert (result["rows_in"], result["cache_hits"], result["cache_misses"]) == (201, 0, 3)
    for step in result["steps"]:
        assert step["rows_in"] == step["rows_out"] + sum(step["dropped"].values())
        assert step["cache"] == "miss" and step["seconds"] >= 0
    assert result["steps"][0]["changed"] == {"normalize_text": 1}
    assert result["steps"][1]["dropped"] == {"empty_output": 29}
    assert result["steps"][2]["dropped"] == {"exact_duplicate": 131}
    assert result["rows_out"] == len(records(store, result["output_key"])) == 41
    assert result["output_key"] == prefix_keys(key, strategy)[-1]


def test_same_strategy_twice_is_all_cache_hits(store, tmp_path):
    key = dataset(store, tmp_path)
    strategy = Strategy.from_data(["normalize_text", "drop_empty_output", "exact_dedup"])
    first = apply_strategy(key, strategy, store)
    stored = store.artifacts(DATASETS)
    second = apply_strategy(key, strategy, store)
    assert (second["cache_hits"], second["cache_misses"]) == (3, 0)
    assert [s["cache"] for s in second["steps"]] == ["hit"] * 3
    assert second["output_key"] == first["output_key"]
    assert [s["rows_out"] for s in second["steps"]] == [s["rows_out"] for s in first["steps"]]
    assert store.artifacts(DATASETS) == stored


def test_strategies_sharing_a_prefix_compute_it_once(store, tmp_path):
    key = dataset(store, tmp_path)
    apply_strategy(key, Strategy.from_data(["normalize_text", "drop_empty_output", "exact_dedup"]), store)
    other = apply_strategy(key, Strategy.from_data(["normalize_text", "drop_empty_output", "length_bounds"]), store)
    assert [s["cache"] for s in other["steps"]] == ["hit", "hit", "miss"]
    changed = apply_strategy(key, Strategy.from_data(["normalize_text", {"drop_empty_output": {"drop_placeholders": False}}]), store)
    assert [s["cache"] for s in changed["steps"]] == ["hit", "miss"]


def test_empty_strategy_is_the_input(local_store, tmp_path):
    key = dataset(local_store, tmp_path)
    result = apply_strategy(key, Strategy.from_data([]), local_store)
    assert result["output_key"] == key and result["steps"] == []
