"""What the review pages compute from a search's results: the step diff against the best
strategy, the best score found up to each iteration, and the lineage's row counts."""

from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.operators.resources import Resources
from autodp.review.pages import best_by_iteration, lineage, score_text, step_diff
from tests.conftest import record, write_lines


def test_step_diff_marks_added_and_missing_steps():
    best = ["drop_empty_output", "exact_dedup", "length_bounds"]
    other = ["normalize_text", "drop_empty_output", "length_bounds"]
    assert [(d["op"], d["operator"]) for d in step_diff(best, other)] == [
        ("+", "normalize_text"), (" ", "drop_empty_output"), ("-", "exact_dedup"), (" ", "length_bounds")]
    assert step_diff(best, best) == [{"op": " ", "operator": name} for name in best]


def test_a_score_reads_as_its_signal_gives_it():
    by_reference = {"judge": "reference", "score": 0.1, "win_rate": 0.6, "ci95": [0.55, 0.65]}
    assert score_text(by_reference) == "win rate 0.600 [0.55, 0.65]"
    candidate = {"score": -0.0123, "ci95": [-0.02, -0.004], "value": {"signal": "gradient_flow@10"}}  # a leaderboard row
    assert score_text(candidate) == "gradient_flow@10 -0.01230 [-0.02000, -0.00400]"


def test_best_by_iteration_never_goes_down():
    def entry(iteration, score, win_rate):
        return {"iteration": iteration, "score": score, "win_rate": win_rate, "ci95": [win_rate - 0.1, win_rate + 0.1],
                "steps": [{"operator": f"op{iteration}"}]}

    points = best_by_iteration([entry(1, 0.1, 0.6), entry(1, -0.1, 0.4), entry(2, 0.0, 0.5), entry(3, 0.3, 0.8)])
    assert [(p["iteration"], p["win_rate"], p["iteration_best_win_rate"]) for p in points] == [
        (1, 0.6, 0.6), (2, 0.6, 0.5), (3, 0.8, 0.8)]
    assert points[1]["operators"] == ["op1"]


def test_lineage_runs_from_the_ingested_file_to_the_output_and_counts_add_up(local_store, tmp_path):
    lines = [record(f"Q {i}?", output="" if i % 4 == 0 else f"A {i % 3}.") for i in range(40)]
    lines.append('{"instruction": "broken", ')
    dataset = ingest(str(write_lines(tmp_path / "d.jsonl", lines)), local_store)["dataset_key"]
    strategy = Strategy.from_data([{"operator": "drop_empty_output"}, {"operator": "exact_dedup"}])
    output = apply_strategy(dataset, strategy, local_store, Resources())["output_key"]
    chain = lineage(local_store, output)
    assert [s["step"] for s in chain] == ["ingest", "apply", "apply"]
    assert [s.get("operator") for s in chain[1:]] == ["drop_empty_output", "exact_dedup"]
    assert (chain[0]["rows_in"], chain[0]["rows_out"], chain[0]["quarantined"]) == (41, 40, 1)
    for before, after in zip(chain, chain[1:]):
        assert after["rows_in"] == before["rows_out"]
        assert after["rows_out"] == after["rows_in"] - sum(after["dropped"].values()) + after["added"]
    assert chain[-1]["dataset_key"] == output and all(s["records_sha256"] for s in chain)
