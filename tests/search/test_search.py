"""The search end to end with the tiny model and the real local LLM as the agent; and the
privacy property: nothing planted in a record reaches the agent."""

import json
from dataclasses import replace

import datasets
import pyarrow.parquet as pq
import pytest

from autodp.artifacts import (
    ADAPTERS,
    DATASETS,
    PUBLISHED,
    RECORDS_FILE,
    RESULT_FILE,
    SCORES,
    SEARCH_STEPS,
)
from autodp.exports import export
from autodp.ingest import ingest
from autodp.llm.endpoints import LOCAL_MODEL
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.confirmation import BETTER, NOT_SHOWN, WORSE
from autodp.search.evaluation import load_examples
from autodp.search.loop import PAIRED_FLOW, search
from autodp.search.value_judge import SIGNAL
from autodp.tables.profile import profile
from tests.conftest import write_lines

CANARIES = [f"CANARY{n}xq" for n in range(6)]
RULES = ("drop_empty_output", "normalize_text", "exact_dedup", "length_bounds", "hallucinated_url_filter")


def source_rows(store, dataset_key: str) -> set[int]:
    table = pq.read_table(store.file_location(DATASETS, dataset_key, RECORDS_FILE), columns=["source_row"])
    return set(table["source_row"].to_pylist())


def canary_dataset(tmp_path, store):
    lines = []
    for i in range(70):
        canary = CANARIES[i % len(CANARIES)]
        if i % 5 == 0:
            output = ["", "<nooutput>", "See https://made.up/page"][i % 3]
        else:
            output = f"Asthma answer {i % 7}: use the inhaler as prescribed ({canary})."
        lines.append(json.dumps({"instruction": f"Question {i % 9} about asthma for {canary}?", "input": "",
                                 "output": output, "patient": canary}))
    return ingest(str(write_lines(tmp_path / "d.jsonl", lines)), store)["dataset_key"]


@pytest.fixture
def config():
    return SearchConfig(iterations=2, candidates=2, base="tiny", sample_size=36, eval_size=8, operators=RULES,
                        lora=LoraSettings(steps=6, batch_size=4, learning_rate=3e-3), confirm_top=0)


def test_search_runs_publishes_and_never_shows_records_to_the_agent(local_store, tmp_path, resources, llm_server,
                                                                     config):
    key = canary_dataset(tmp_path, local_store)
    result = search(key, local_store, config, resources=resources)

    # Scored by the gradient-flow signal (the default): no adapter is trained, each candidate's score is its
    # value against the raw sample, and a strategy that only drops rows computes no record's features again.
    board = result["leaderboard"]
    assert 1 <= len(board) <= 4 and len({h["strategy_key"] for h in board}) == len(board)
    assert not local_store.artifacts(ADAPTERS) and all("adapter_key" not in h for h in board)
    assert board[0]["score"] == max(h["score"] for h in board)
    for h in board:
        low, high = h["ci95"]
        assert low <= h["score"] == h["value"]["difference"] <= high and h["value"]["signal"] == SIGNAL
        assert h["value"]["records"] == h["rows_out"] and h["value"]["references"] >= 1
        if not any(step["operator"] == "normalize_text" for step in h["steps"]):
            assert h["value"]["features_computed"] == 0, h
    # Ties are drawn by the pair's flow difference on the selection references, stored once for every rival.
    selection = result["data_card"]["search"]["selection"]
    assert selection["tie_rule"] == PAIRED_FLOW and selection["best_scored"] == board[0]["strategy_key"]
    ties = [local_store.manifest(SEARCH_STEPS, k) for k in local_store.artifacts(SEARCH_STEPS)]
    ties = [local_store.read_json(SEARCH_STEPS, m["key"], RESULT_FILE) for m in ties
            if m["provenance"]["step"] == "flow_ties"]
    assert len(ties) <= 1
    rivals = {h["output_key"] for h in board[1:] if h["rows_out"]} - {board[0]["output_key"]}
    verdicts = ties[0] if ties else {}
    assert set(verdicts) == rivals and all(v["separated"] == (v["ci95"][0] > 0 or v["ci95"][1] < 0)
                                           for v in verdicts.values())
    tied = [h for h in board if h["rows_out"] and (h["output_key"] not in verdicts
                                                   or not verdicts[h["output_key"]]["separated"])]
    net = {h["strategy_key"]: h["flagged"]["flagged_removed"] - h["flagged"]["unflagged_dropped"] for h in board}
    assert selection["tied"] == len(tied) and result["best"]["strategy_key"] in {h["strategy_key"] for h in tied}
    assert net[result["best"]["strategy_key"]] == max(net[h["strategy_key"]] for h in tied)
    assert all(h["flagged"]["flagged"] == result["data_card"]["target_selection"]["flagged"] for h in board)
    assert local_store.has(DATASETS, result["published_dataset_key"])
    card = result["data_card"]
    score = card["score"]
    assert score["judge"] == SIGNAL and score["signal"] == "gradient_flow" and score["win_rate"] is None
    assert score["value"] == result["best"]["value"] and "bench-ladder" in score["ladder"] and score["could_favour"]
    assert score["evaluation"] == "held_out" and 1 <= score["evaluation_examples"] <= 8
    assert score["evaluation_screen"]["screened_out"]  # the planted empty outputs and invented URLs
    assert score["noise_floor"] is None and card["baseline_adapter"] is None  # the signal has no seed
    assert 0 < score["cost"]["raw_features_computed"] <= 36 + score["evaluation_examples"]  # once per record
    assert card["rows"]["in"] == 70 and card["input_dataset_key"] == key
    published = datasets.load_dataset(str(local_store.root / PUBLISHED / result["run_key"]),
                                      cache_dir=str(tmp_path / "hf-cache"))  # the artifact is a Hugging Face dataset
    assert published["train"].num_rows == card["rows"]["out"]
    # The stored folder, copied: one written now would declare this other license.
    other = replace(resources.settings, dataset_license="cc-by-4.0")
    exported = export(local_store, result["run_key"], tmp_path / "hf", "hf", settings=other)
    assert exported["rows"] == card["rows"]["out"] and (tmp_path / "hf" / "README.md").read_bytes() == \
        local_store.read_bytes(f"{PUBLISHED}/{result['run_key']}/README.md")
    prior = card["search"]["profile_prior"]  # counts only, and labelled as the prior
    assert "drop_empty_output" in prior["operators"] and set(prior["operators"]) <= set(RULES)
    assert all(isinstance(share, float) and 0 <= share <= 1 for share in prior["evidence"].values())
    assert prior["measured_on_whole_dataset"] == ["exact_dedup"]  # the values: tests/test_quality.py
    assert len(local_store.artifacts(SCORES)) == 1  # the sample's cheap signals, scored once for every propose

    audit = local_store.read_bytes(f"{PUBLISHED}/{result['run_key']}/audit.jsonl").decode()
    entries = [json.loads(line) for line in audit.splitlines()]
    assert entries and all(e["purpose"].startswith("propose") for e in entries)
    seen_by_agent = audit + json.dumps(card)
    leaked = [c for c in CANARIES if c.lower() in seen_by_agent.lower()]
    assert leaked == []
    sample_profile = json.dumps(profile(key, local_store))
    assert not any(c.lower() in sample_profile.lower() for c in CANARIES)

    again = search(key, local_store, config, resources=resources)
    assert again["run_key"] == result["run_key"] and again["leaderboard"] == result["leaderboard"]


def test_the_top_candidates_are_confirmed_against_raw_on_examples_the_selection_never_used(
        local_store, tmp_path, resources, config):
    confirming = replace(config, method="random", iterations=1, confirm_top=2, confirm_seeds=2, confirm_size=6,
                         confirm_rows=40,
                         confirm_lora=LoraSettings(steps=4, batch_size=4, max_length=64, learning_rate=3e-3))
    lines = [json.dumps({"instruction": f"Question {i} about asthma?", "input": "",
                         "output": "" if i % 6 == 0 else f"Answer {i % 5}: use the inhaler as prescribed."})
             for i in range(120)]
    key = ingest(str(write_lines(tmp_path / "qa.jsonl", lines)), local_store)["dataset_key"]
    result = search(key, local_store, confirming, resources=resources)

    card = result["data_card"]
    confirmation = card["confirmation"]
    assert "candidates" in confirmation, confirmation
    assert confirmation["seeds"] == 2 and confirmation["budget"]["steps"] == 4 and len(confirmation["raw_adapters"]) == 2
    confirmed = confirmation["candidates"]
    assert len(confirmed) == 2 and confirmed[0]["strategy_key"] != confirmed[1]["strategy_key"]
    for entry in confirmed:
        low, high = entry["delta_nll"]["ci95"]
        assert low <= entry["delta_nll"]["mean"] <= high and len(entry["per_seed"]) == 2
        assert entry["verdict"] == (BETTER if low > 0 else WORSE if high < 0 else NOT_SHOWN)
    assert result["verdict"] == confirmation["verdict"] == next(
        c["verdict"] for c in confirmed if c["strategy_key"] == result["best"]["strategy_key"])
    board = {h["strategy_key"]: h for h in result["leaderboard"]}
    assert all(board[c["strategy_key"]]["confirmed"]["verdict"] == c["verdict"] for c in confirmed)
    assert sum("confirmed" in h for h in board.values()) == 2
    # One held-out split (held out of the sample as a whole): the selection scores its first examples, the
    # confirmation the rest.
    split = local_store.manifest(DATASETS, card["score"]["evaluation_key"])["summary"]
    assert card["score"]["evaluation_examples"] + confirmation["examples"] == split["examples"]
    assert confirmation["examples"] >= 2
    text = local_store.read_bytes(f"{PUBLISHED}/{result['run_key']}/data_card.md").decode()
    assert f"Judged by `{SIGNAL}`" in text and "What it could favour" in text
    assert "## Confirmation" in text and f"**{result['verdict'].capitalize()}**" in text
    # Raw twice, each confirmed candidate twice, beside the search's own adapters.
    confirmation_adapters = set(confirmation["raw_adapters"])
    assert len(confirmation_adapters) == 2 and confirmation_adapters <= set(local_store.artifacts(ADAPTERS))
    # The arms trained on 40 rows that neither the sample nor the held-out split holds: raw on them as drawn, each
    # candidate on its strategy applied to them.
    draw = confirmation["draw"]
    assert draw["fresh"] and draw["rows"] == 40
    sample_key = local_store.manifest(DATASETS, result["best"]["output_key"])["provenance"]["dataset"]
    held_out = load_examples(local_store, card["score"]["evaluation_key"])[1]
    assert held_out and not source_rows(local_store, draw["dataset_key"]) & (source_rows(local_store, sample_key)
                                                                              | held_out)
    assert all(local_store.manifest(ADAPTERS, a)["summary"]["dataset_key"] == draw["dataset_key"]
               for a in confirmation["raw_adapters"])
    for entry in confirmed:
        trained_on = {local_store.manifest(ADAPTERS, a)["summary"]["dataset_key"] for a in entry["adapters"]}
        assert len(trained_on) == 1 and 0 < entry["rows"] <= 40
        assert local_store.manifest(DATASETS, trained_on.pop())["summary"]["rows_out"] == entry["rows"]


def test_random_search_scored_by_the_reference_judge_with_the_llm_judge_beside(local_store, tmp_path, resources,
                                                                              config):
    key = canary_dataset(tmp_path, local_store)
    result = search(key, local_store, replace(config, method="random", llm_judge=True, signal="reference"),
                    resources=resources)
    assert all(h["origin"] == "random" for h in result["leaderboard"])
    board = result["leaderboard"]
    assert all(-0.5 <= h["score"] <= 0.5 and h["adapter_key"] for h in board)
    selection = result["data_card"]["search"]["selection"]  # the best-scored, or one tied with it within the noise
    low, high = result["data_card"]["score"]["noise_floor"]["delta_nll"]["ci95"]
    assert selection["best_scored"] == board[0]["strategy_key"] and selection["noise_reach"] == max(abs(low), abs(high))
    assert result["best"]["delta_nll"]["mean"] >= board[0]["delta_nll"]["mean"] - selection["noise_reach"]
    net = {h["strategy_key"]: h["flagged"]["flagged_removed"] - h["flagged"]["unflagged_dropped"] for h in board}
    tied = [h for h in board if h["delta_nll"]["mean"] >= board[0]["delta_nll"]["mean"] - selection["noise_reach"]]
    assert len(tied) == selection["tied"] and net[result["best"]["strategy_key"]] == max(net[h["strategy_key"]] for h in tied)
    score = result["data_card"]["score"]
    assert score["judge"] == "reference" and score["tie_margin"] == score["noise_floor"]["tie_margin"] >= 0
    assert all(h["delta_nll"]["ci95"][0] <= h["delta_nll"]["mean"] <= h["delta_nll"]["ci95"][1] for h in board)
    judged = [h["llm_judge"] for h in result["leaderboard"] if h.get("llm_judge")]
    examples = result["data_card"]["score"]["evaluation_examples"]
    assert judged and all(j["wins"] + j["ties"] + j["losses"] == examples for j in judged)
    assert all(0 <= j["first_shown_preferred"] <= 1 and j["usable"] == (j["unusable_reason"] is None) for j in judged)
    assert result["data_card"]["search"]["method"] == "random"
    card = local_store.read_bytes(f"{PUBLISHED}/{result['run_key']}/data_card.md").decode()
    assert " Published: " in card
    best = result["best"]["llm_judge"]
    if best["usable"]:
        assert f"LLM judge `{LOCAL_MODEL}`: win rate" in card and "answer shown first in" in card
    else:
        assert f"LLM judge `{LOCAL_MODEL}`: **unusable**, {best['unusable_reason']}" in card
