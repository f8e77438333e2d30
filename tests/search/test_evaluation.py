"""The evaluation's figures and its references: the paired ΔNLL, the noise floor that sets
the tie margin, an LLM judge marked unusable when its verdicts follow the order shown, and
held-out references that pass a fixed screen."""

import json

import numpy as np
import pytest

from autodp.ingest import ingest
from autodp.search.agent import agent_context
from autodp.search.evaluation import (
    compare_nll,
    evaluation_split,
    judge_usability,
    load_examples,
    noise_floor,
    paired_delta,
)
from autodp.search.state import Trial
from tests.conftest import record, write_lines


def test_paired_delta_is_the_mean_gain_with_an_interval_around_it():
    rng = np.random.default_rng(1)
    baseline = rng.normal(2.0, 0.3, 400)
    better = baseline - 0.1 + rng.normal(0, 0.05, 400)
    delta = paired_delta(baseline, better)
    assert delta["mean"] == pytest.approx(0.1, abs=0.01)
    assert 0 < delta["ci95"][0] < delta["mean"] < delta["ci95"][1]
    same = paired_delta(baseline, baseline + rng.normal(0, 0.05, 400))
    assert same["ci95"][0] < 0 < same["ci95"][1]


def test_noise_floor_sets_the_margin_that_reseeding_alone_reaches():
    rng = np.random.default_rng(2)
    first = rng.normal(2.0, 0.3, 300)
    reseeded = first + rng.normal(0, 0.02, 300)
    noise = noise_floor(first, reseeded)
    assert noise["tie_margin"] == pytest.approx(float(np.median(np.abs(first - reseeded))), abs=1e-4)
    assert noise["ci95"][0] < 0.5 < noise["ci95"][1]  # a reseeded baseline is no better than the first
    # A candidate whose gains stay within the noise wins about as often as it loses; one that
    # moves every example by more than the margin wins them all.
    within = compare_nll(first, first + rng.normal(0, 0.02, 300), noise["tie_margin"])
    assert within["ci95"][0] < 0.5 < within["ci95"][1]
    beyond = compare_nll(first, first - 5 * noise["tie_margin"], noise["tie_margin"])
    assert beyond["win_rate"] == 1.0 and beyond["delta_nll"]["mean"] > 0


@pytest.mark.parametrize("bias, usable", [(0.5, True), (0.85, True), (0.9, False), (1.0, False), (0.04, False),
                                          (None, False)])
def test_a_judge_that_follows_the_order_shown_is_unusable(bias, usable):
    verdict = judge_usability(bias)
    assert verdict["usable"] is usable
    assert (verdict["unusable_reason"] is None) == usable


def test_the_agent_never_sees_the_llm_judge():
    judged = Trial(iteration=1, origin="agent", proposals_key="p", strategy_key="s",
                   steps=[{"operator": "drop_empty_output", "params": {}}], output_key="o", rows_out=9, cache_hits=0,
                   llm_calls=0, llm_rows_skipped=0, seconds=1.0, adapter_key="a", score=0.1, win_rate=0.6,
                   ci95=[0.5, 0.7], llm_judge={"win_rate": 0.93, "usable": False, "model": "judge-model-xq"})
    shown = json.dumps(agent_context({"rows": 10}, {"js_divergence": 0.0}, ["drop_empty_output"], [judged]))
    assert "judge-model-xq" not in shown and "0.93" not in shown and "llm_judge" not in shown


def defective(tmp_path):
    """40 clean rows and one of each defect the reference screen knows."""
    lines = [record(f"How is condition {i} treated?", output=f"Condition {i} is treated with rest and fluids.")
             for i in range(40)]
    lines += [record("What is asthma?", output=""),
              record("What is gout?", output="<nooutput>"),
              record("Where can I read about flu?", output="See https://made.up/flu-page for details."),
              record("Name a fruit. 2. Name a colour.", output="Apple."),
              record("How is condition 3 treated?", output="A second answer to a repeated prompt.")]
    return write_lines(tmp_path / "mixed.jsonl", lines)


def test_held_out_references_pass_the_screen(local_store, tmp_path):
    key = ingest(str(defective(tmp_path)), local_store)["dataset_key"]
    split = evaluation_split(local_store, key, size=100, seed=0)
    assert split["source"] == "held_out" and split["rows"] == 45
    assert sum(split["screened_out"].values()) == 45 - split["passed_screen"] >= 4
    assert split["examples"] == split["passed_screen"] // 4  # at most a quarter is held out
    examples, held_out = load_examples(local_store, split["evaluation_key"])
    assert len(examples) == len(held_out) == split["examples"]
    assert all(e.reference.startswith("Condition") and "http" not in e.reference for e in examples)
    assert evaluation_split(local_store, key, size=100, seed=0) == split  # stored: the same split again


def test_a_trusted_set_is_used_whole_and_holds_nothing_out(local_store, tmp_path):
    key = ingest(str(defective(tmp_path)), local_store)["dataset_key"]
    trusted = ingest(str(write_lines(tmp_path / "trusted.jsonl", [
        record(f"Trusted question {i}?", output=f"Trusted answer {i}.") for i in range(7)] + [
        record("Unanswered?", output="")])), local_store)["dataset_key"]
    split = evaluation_split(local_store, key, size=3, seed=0, trusted_key=trusted)
    assert (split["source"], split["examples"], split["source_dataset_key"]) == ("trusted_set", 7, trusted)
    examples, held_out = load_examples(local_store, split["evaluation_key"])
    assert held_out == frozenset() and {e.reference for e in examples} == {f"Trusted answer {i}." for i in range(7)}
