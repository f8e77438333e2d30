"""The search state survives XCom: plain JSON out, the same typed values back."""

import json

from autodp.search.config import SearchConfig
from autodp.search.loop import PAIRED_FLOW, SearchContext, choose, reflect, select
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


def judged(name: str, score: float, delta: float, removed: int = 0, dropped: int = 0, steps: int = 1) -> Trial:
    return trial(1, score, steps).but(strategy_key=name, delta_nll={"mean": delta, "ci95": [delta - 0.01, delta + 0.01]},
                                      flagged={"flagged": 20, "flagged_removed": removed, "unflagged_dropped": dropped})


def test_within_the_noise_reach_the_strategy_removing_most_flagged_rows_is_published():
    top = judged("top", 0.14, 0.0050, removed=4)
    thorough = judged("thorough", 0.11, 0.0020, removed=18, dropped=3, steps=9)
    careless = judged("careless", 0.12, 0.0045, removed=19, dropped=30)  # nets -11
    distant = judged("distant", 0.02, -0.0100, removed=20)
    history = [top, thorough, careless, distant]
    chosen, why = choose(history, reach=0.0066)
    assert chosen.strategy_key == "thorough"
    assert why == {"rule": "flagged_removed_among_tied", "best_scored": "top", "tied": 3, "noise_reach": 0.0066,
                   "flagged": thorough.flagged}
    narrow, why = choose(history, reach=0.001)  # a judge that tells "thorough" apart; "careless" nets less
    assert narrow.strategy_key == "top" and why["rule"] == "best_score" and why["tied"] == 2
    unflagged = [t.but(flagged=None) for t in history]  # no target selection: the score decides
    assert choose(unflagged, reach=0.0066)[0].strategy_key == "top"
    level = [judged("short", 0.10, 0.004, removed=5), judged("long", 0.10, 0.004, removed=5, steps=3)]
    assert choose(level, reach=0.0066)[0].strategy_key == "short"
    unscored = [trial(1, 0.1).but(strategy_key="no-delta"), judged("scored", 0.05, 0.001, removed=9)]
    chosen, why = choose(unscored, reach=0.0066)  # a best without a ΔNLL has no noise band to tie within
    assert chosen.strategy_key == "no-delta" and why["rule"] == "best_score"


def test_under_the_flow_signal_the_pairs_it_cannot_separate_are_tied():
    top = judged("top", 0.0030, 0.0, removed=4).but(delta_nll=None)
    thorough = judged("thorough", 0.0029, 0.0, removed=18, dropped=3, steps=8).but(delta_nll=None)
    apart = judged("apart", 0.0010, 0.0, removed=20).but(delta_nll=None)
    history = [top, thorough, apart]
    chosen, why = choose(history, reach=0.0, tied_keys={"thorough"})  # "apart" was separated from "top"
    assert chosen.strategy_key == "thorough"
    assert why == {"rule": "flagged_removed_among_tied", "best_scored": "top", "tied": 2,
                   "tie_rule": PAIRED_FLOW, "flagged": thorough.flagged}
    alone, why = choose(history, reach=0.0, tied_keys=set())
    assert alone.strategy_key == "top" and why["rule"] == "best_score" and why["tied"] == 1
