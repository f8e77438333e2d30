"""The search state survives XCom: plain JSON out, the same typed values back."""

import json

from autodp.search.config import SearchConfig
from autodp.search.loop import SearchContext, reflect, select
from autodp.search.state import Baseline, Candidate, Reflection, SearchRun, Targets, Trial


def trial(iteration: int, score: float | None, steps: int = 1) -> Trial:
    applied = Trial(iteration=iteration, origin="random", proposals_key="p", strategy_key=f"s{iteration}{score}",
                    steps=[{"operator": "exact_dedup", "params": {}}] * steps, output_key="o", rows_out=10,
                    cache_hits=0, llm_calls=0, llm_rows_skipped=0, seconds=1.0)
    return applied if score is None else applied.but(adapter_key="a", score=score, win_rate=0.5 + score,
                                                      ci95=[0.4, 0.6], wins=1, ties=0, losses=0)


def through_json(value: dict) -> dict:
    return json.loads(json.dumps(value))


def test_run_and_reflection_round_trip_through_json():
    screen = {"rows": 40, "passed_screen": 36, "screened_out": {"empty_output": 4}}
    run = SearchRun(run_key="r", dataset_key="d", sample_key="s", sample_rows=30, fidelity={"js_divergence": 0.01},
                    evaluation_key="e", eval_source="held_out", eval_examples=6, eval_screen=screen,
                    targets=Targets(targets_key="t", flagged=3, rows=30, classifier={"trained": False}),
                    baseline=Baseline(adapter_key="a", steps=3, scores_key="k", reseeded_adapter_key="b",
                                      tie_margin=0.02, noise={"tie_margin": 0.02, "win_rate": 0.5}))
    assert SearchRun.from_dict(through_json(run.to_dict())) == run
    bare = SearchRun(run_key="r", dataset_key="d", sample_key="s", sample_rows=30, fidelity={}, evaluation_key="e",
                     eval_source="held_out", eval_examples=6, eval_screen=screen)
    assert SearchRun.from_dict(through_json(bare.to_dict())) == bare
    candidate = Candidate(steps=[{"operator": "exact_dedup", "params": {}}], origin="agent", iteration=1,
                          proposals_key="p")
    assert Candidate.from_dict(through_json(candidate.to_dict())) == candidate
    reflection = Reflection(iteration=1, converged=False, history=[trial(1, 0.1), trial(1, None)], best_score=0.1,
                            best_strategy_key="s10.1")
    assert Reflection.from_dict(through_json(reflection.to_dict())) == reflection


def test_a_trial_lists_only_the_stages_it_reached():
    applied = trial(1, None).to_dict()
    assert "adapter_key" not in applied and "score" not in applied and "llm_judge" not in applied
    assert {"adapter_key", "score", "ci95"} <= set(trial(1, 0.2).to_dict())


def test_reflect_converges_after_patience_and_select_takes_the_last(tmp_path):
    context = SearchContext(store=None, config=SearchConfig(patience=1), resources=None)
    first = reflect(context, None, [trial(1, 0.1), trial(1, 0.05)], 1)
    assert (first.converged, first.best_score, first.best_strategy_key) == (False, 0.1, "s10.1")
    second = reflect(context, first, [trial(2, 0.0)], 2)
    assert second.converged and len(second.history) == 3 and second.best_score == 0.1
    assert select([first, second, None, None, None]) == second
    shorter = reflect(context, None, [trial(1, 0.1, steps=3), trial(1, 0.1, steps=1)], 1)
    assert max(shorter.history, key=Trial.rank).steps == [{"operator": "exact_dedup", "params": {}}]
