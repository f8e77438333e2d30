"""Processing Target Selection: seed labels, a cross-validated classifier, flagged rows,
and LLM operators that then touch flagged rows only."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autodp.artifacts import FLAGS_FILE, TARGETS
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.operators.resources import Resources
from autodp.search.targeting import flagged_removed, load_targets, select_targets
from autodp.settings import Settings
from tests.conftest import write_lines
from tests.operators.test_quality import graded


def noisy_dataset(tmp_path, store):
    lines = []
    for i in range(60):
        good = i % 3 != 0
        output = (f"Asthma care plan {i}: inhaled steroids daily and a rescue inhaler for attacks." if good
                  else ["", "<nooutput>", "N/A"][i % 9 // 3])
        lines.append(json.dumps({"instruction": f"Describe the treatment plan number {i} for asthma.", "input": "",
                                 "output": output, "quality": "good" if good else "bad"}))
    return ingest(str(write_lines(tmp_path / "d.jsonl", lines)), store)["dataset_key"]


@pytest.fixture
def plain_resources(tmp_path):
    return Resources(settings=Settings(home=tmp_path / "home", store_uri=str(tmp_path / "store")))


def test_rule_labels_train_a_classifier_that_flags_the_defects(local_store, tmp_path, plain_resources):
    key = noisy_dataset(tmp_path, local_store)
    result = select_targets(key, local_store, labeler="rules", seed_size=30, resources=plain_resources)
    assert result["classifier"]["trained"] and result["seed_low"] > 0
    assert result["classifier"]["cv_roc_auc"] > 0.9
    flagged, scores = load_targets(local_store, result["targets_key"])
    bad_rows = {n for n in range(1, 61) if (n - 1) % 3 == 0}
    assert len(flagged & bad_rows) >= 0.9 * len(bad_rows)
    assert len(flagged - bad_rows) <= 2
    assert all(0.0 <= s <= 1.0 for s in scores.values()) and len(scores) == 60
    again = select_targets(key, local_store, labeler="rules", seed_size=30, resources=plain_resources)
    assert again["cached"] and local_store.artifacts(TARGETS) == [result["targets_key"]]


def test_the_quality_scorer_labels_the_seed_by_default(local_store, tmp_path, plain_resources):
    path, defective = graded(tmp_path)
    key = ingest(str(path), local_store)["dataset_key"]
    result = select_targets(key, local_store, seed_size=17, resources=plain_resources)
    assert result["labeler"] == "scorer" and result["seed_low"] == len(defective)
    assert result["classifier"]["trained"] and result["classifier"]["cv_roc_auc"] >= 0.9
    flagged, _ = load_targets(local_store, result["targets_key"])
    assert flagged == defective


def test_label_column_and_one_class_seed(local_store, tmp_path, plain_resources):
    key = noisy_dataset(tmp_path, local_store)
    by_column = select_targets(key, local_store, labeler="column", label_column="quality", seed_size=60,
                               resources=plain_resources)
    assert (by_column["seed_rows"], by_column["seed_low"]) == (60, 20) and by_column["classifier"]["trained"]
    nothing_dropped = [{"length_bounds": {"min_output_chars": 0, "min_instruction_chars": 0}}]
    one_class = select_targets(key, local_store, labeler="rules", rules=nothing_dropped, seed_size=30,
                               resources=plain_resources)
    assert one_class["classifier"] == {"trained": False, "reason": "the seed labels have one class"}
    assert one_class["flagged"] == 0


def test_llm_operators_process_flagged_rows_only(local_store, tmp_path, resources):
    key = noisy_dataset(tmp_path, local_store)
    targets = select_targets(key, local_store, seed_size=30, resources=resources)
    resources.targets, _ = load_targets(local_store, targets["targets_key"])
    result = apply_strategy(key, Strategy.from_data([{"quality_score_filter": {"threshold": 0}}]), local_store, resources)
    [step] = result["steps"]
    assert step["llm_calls"] == len(resources.targets)
    assert step["llm_rows_skipped"] == 60 - len(resources.targets)
    assert (result["llm_calls"], result["llm_rows_skipped"]) == (step["llm_calls"], step["llm_rows_skipped"])
    again = apply_strategy(key, Strategy.from_data([{"quality_score_filter": {"threshold": 0}}]), local_store,
                           resources)
    assert (again["cache_hits"], again["llm_calls"], again["llm_rows_skipped"]) == (1, 0, 0)


def test_flagged_removed_counts_what_a_strategy_drops_or_repairs_of_the_flagged_rows(local_store, tmp_path,
                                                                                       plain_resources):
    rows = [("What helps asthma?", ""), ("What is a rescue inhaler?", "<nooutput>"),
            ("Who should I email about my care?", "Write to jane.doe@example.org for an appointment."),
            ("What is a peak flow meter?", "A device that measures  how fast you can breathe out.  "),
            ("When is asthma an emergency?", "When a rescue inhaler does not help and breathing gets harder."),
            ("What triggers asthma?", "")]
    lines = [json.dumps({"instruction": q, "input": "", "output": a}) for q, a in rows]
    key = ingest(str(write_lines(tmp_path / "d.jsonl", lines)), local_store)["dataset_key"]
    # Flagged: the first two empties (dropped), the email (redacted: a repair) and one clean answer with stray
    # spaces (kept; normalising its spaces is no repair); the last empty is not flagged: an unflagged row lost.
    flags = tmp_path / FLAGS_FILE
    pq.write_table(pa.table({"source_row": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
                             "p_low": [0.9, 0.9, 0.8, 0.7, 0.1, 0.2],
                             "flagged": [True, True, True, True, False, False]}), flags)
    local_store.publish(TARGETS, "planted", {FLAGS_FILE: flags}, provenance={"step": "test"}, summary={})
    strategy = Strategy.from_data(["drop_empty_output", {"pii_redaction": {"kinds": ["email"]}}])
    output = apply_strategy(key, strategy, local_store, plain_resources)["output_key"]
    assert flagged_removed(local_store, "planted", key, output, plain_resources.settings) == \
        {"flagged": 4, "flagged_removed": 3, "unflagged_dropped": 1}
    normalised = apply_strategy(key, Strategy.from_data(["normalize_text"]), local_store, plain_resources)
    assert sum(normalised["steps"][0]["changed"].values()) >= 1  # the stray spaces
    assert flagged_removed(local_store, "planted", key, normalised["output_key"], plain_resources.settings) == \
        {"flagged": 4, "flagged_removed": 0, "unflagged_dropped": 0}
