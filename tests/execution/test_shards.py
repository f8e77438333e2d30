"""A strategy applied in shards gives what one task gives: the same records in the same
order, the same drops with the same reasons, the same changes; on the local store and on
the S3 server. A rerun recomputes nothing, and a failed shard is the only work redone."""

import json
from dataclasses import replace

import pytest

from autodp.artifacts import CHANGES_FILE, DATASETS, DROPS_FILE, RECORDS_FILE
from autodp.execution import shards
from autodp.execution.executor import apply_strategy
from autodp.execution.shards import ShardPlan, ShardTask, apply_sharded, rounds, shard
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.tables import engine
from tests.conftest import write_lines

SHARD_ROWS = 25
STRATEGY = Strategy.from_data([
    {"operator": "normalize_text"},
    {"operator": "drop_empty_output"},
    {"operator": "exact_dedup"},
    {"operator": "pii_redaction"},
    {"operator": "near_dedup", "params": {"threshold": 0.6}},
    {"operator": "semantic_dedup", "params": {"threshold": 0.97}},
    {"operator": "length_bounds", "params": {"min_output_chars": 12}},
    {"operator": "mismatched_answer_filter", "params": {"min_margin": 0.5}},
])
TOPICS = ["asthma", "gout", "migraine", "eczema", "anaemia", "angina", "sciatica", "psoriasis"]


def lines(count=130):
    """Defects spread over every shard: empty answers, exact and near duplicates of rows in
    earlier shards, contact details, short answers."""
    out = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        if i % 11 == 0:
            answer = ""
        elif i % 13 == 0:
            answer = "Yes."
        else:
            answer = (f"For {topic}, case {i}: rest, take fluids, follow the plan agreed with the clinic, "
                      f"and call  0161 496 0{i % 1000:03d} if it worsens.")
        out.append({"instruction": f"How is {topic} managed in patient {i}?", "input": "", "output": answer})
    for i in range(0, count, 9):  # exact copies, differing in case and whitespace only
        out.append({**out[i], "instruction": "  " + out[i]["instruction"].upper()})
    for i in range(3, count, 10):  # near copies: one word changed
        out.append({**out[i], "output": out[i]["output"].replace("rest", "sleep")})
    return [json.dumps(r) for r in out]


@pytest.fixture
def dataset(store, tmp_path):
    return store, ingest(str(write_lines(tmp_path / "d.jsonl", lines())), store)["dataset_key"]


def read(store, key, name, order="source_row"):
    with engine.connect(store) as con:
        return con.execute(f"select * from read_parquet(?) order by {order}",
                           [store.file_location(DATASETS, key, name)]).fetchall()


def single_task_lineage(store, applied, name):
    """Every step's drops (or changes) of an unsharded apply, with the step in front."""
    rows = []
    for step in applied["steps"]:
        rows += [(step["step"], *row) for row in read(store, step["key"], name)]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def test_sharded_apply_equals_one_task(dataset, resources):
    store, key = dataset
    single = apply_strategy(key, STRATEGY, store, resources)
    sharded = apply_sharded(key, STRATEGY, store, resources, shard_rows=SHARD_ROWS)

    assert sharded["shards"] == 7 and sharded["output_key"] != single["output_key"]
    assert read(store, sharded["output_key"], RECORDS_FILE) == read(store, single["output_key"], RECORDS_FILE)
    assert read(store, sharded["output_key"], DROPS_FILE, "step, source_row") == \
        single_task_lineage(store, single, DROPS_FILE)
    assert read(store, sharded["output_key"], CHANGES_FILE, "step, source_row") == \
        single_task_lineage(store, single, CHANGES_FILE)
    for mine, theirs in zip(sharded["steps"], single["steps"], strict=True):
        assert {k: mine[k] for k in ("operator", "rows_in", "rows_out", "dropped", "changed", "added")} == \
            {k: theirs[k] for k in ("operator", "rows_in", "rows_out", "dropped", "changed", "added")}
    dropped = {s["operator"]: s["dropped"] for s in single["steps"] if s["dropped"]}
    assert {"drop_empty_output", "exact_dedup", "near_dedup", "length_bounds"} <= set(dropped)
    assert single["rows_in"] == sharded["rows_in"] == 130 + 15 + 13
    assert sharded["rows_out"] == sharded["rows_in"] - sum(sum(d.values()) for d in dropped.values())


def test_rounds_end_at_the_steps_that_need_the_whole_dataset():
    found = rounds(STRATEGY)
    assert [(r.steps, r.decision, r.mode) for r in found] == [
        ((0, 1), 2, "signatures"), ((3,), 4, "signatures"), ((), 5, "signatures"), ((6,), 7, "gather"),
        ((), None, None)]


def test_a_rerun_recomputes_nothing_and_a_failed_shard_is_redone_alone(dataset, resources):
    store, key = dataset
    shard_plan = ShardPlan.make(store, key, STRATEGY, SHARD_ROWS, resources)
    for shard_key in shard_plan.shards[:-1]:  # every shard of the first round but the last, whose task "failed"
        shard(store, shard_plan, ShardTask(0, shard_key), resources)
    first = apply_sharded(key, STRATEGY, store, resources, shard_rows=SHARD_ROWS)
    first_round_pieces = len(shard_plan.rounds()[0].steps) * len(shard_plan.shards)
    assert first["cache_hits"] == first_round_pieces - len(shard_plan.rounds()[0].steps)

    stored = {kind: len(store.artifacts(kind)) for kind in (DATASETS, "shard_signatures", "shard_decisions")}
    again = apply_sharded(key, STRATEGY, store, resources, shard_rows=SHARD_ROWS)
    assert again["output_key"] == first["output_key"] and again["cache_misses"] == 0
    assert {kind: len(store.artifacts(kind)) for kind in stored} == stored


def test_publish_and_curate_shard_datasets_above_the_threshold(dataset, resources):
    store, key = dataset
    small = replace(resources, settings=replace(resources.settings, shard_rows=60))
    rules = Strategy(STRATEGY.steps[:5])  # three rounds
    assert shards.apply(key, rules, store, small)["shards"] == 3
    assert "shards" not in shards.apply(key, rules, store, resources)  # 158 rows: one task
    assert shards.apply(key, STRATEGY, store, small)["shards"] == 3  # five rounds, one after another
    assert len(rounds(STRATEGY)) > shards.MAX_ROUNDS  # more than a DAG run has room for: one task there
    assert shards.plan(store, key, STRATEGY, small).applied["output_key"] == \
        apply_strategy(key, STRATEGY, store, small)["output_key"]
