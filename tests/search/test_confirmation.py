"""Confirmation: its interval counts seed-to-seed variation, and its verdict decides what is
published and how it is labelled."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from autodp.models.lora import LoraSettings
from autodp.search.config import CONFIRM_BUDGET
from autodp.search.confirmation import (
    BETTER,
    LADDER_SEPARATION,
    NOT_CONFIRMED,
    NOT_SHOWN,
    PAIRED_NULL,
    RESEEDED_RAW,
    WORSE,
    budget_name,
    confirmed,
    ladder_note,
    seeded_delta,
    verdict,
)
from autodp.search.loop import confirmed_choice
from autodp.search.state import Confirmation
from tests.search.test_state import judged

BUDGET = {"steps": 200, "batch_size": 4, "max_length": 128}


def test_the_interval_resamples_seeds_as_well_as_examples():
    rng = np.random.default_rng(0)
    raw = 2.0 + rng.normal(0, 0.05, (3, 200))
    consistent = raw - 0.02 + rng.normal(0, 0.005, (3, 200))  # better by 0.02 at every seed
    mean, low, high = seeded_delta(raw, consistent)
    assert mean == pytest.approx(0.02, abs=0.002) and 0 < low < mean < high
    assert verdict(low, high) == BETTER
    # The same mean gain, but one seed says much better and two say worse: over examples alone the
    # gain looks certain; over seeds it is not shown.
    swings = raw - np.array([[0.10], [-0.02], [-0.02]]) + rng.normal(0, 0.005, (3, 200))
    mean, low, high = seeded_delta(raw, swings)
    assert mean == pytest.approx(0.02, abs=0.002)
    assert (raw - swings).mean(axis=0).std() / np.sqrt(200) < 0.001  # examples alone: a tight interval
    assert low < 0 < high and verdict(low, high) == NOT_SHOWN
    mean, low, high = seeded_delta(raw, raw + 0.03)
    assert verdict(low, high) == WORSE and mean == pytest.approx(-0.03)
    with pytest.raises(ValueError, match="seeds x examples"):
        seeded_delta(raw[0], raw[0])
    with pytest.raises(ValueError, match="the same for both arms"):
        seeded_delta(raw, raw[:2])  # arms are paired seed by seed


def test_confirmed_figures_carry_each_seed_and_the_verdict():
    raw = np.array([[2.0, 2.2, 2.1, 2.3], [2.1, 2.1, 2.0, 2.2]])
    figures = confirmed(raw, raw - np.array([[0.05], [0.03]]))
    assert figures["per_seed"] == [0.05, 0.03] and figures["delta_nll"]["mean"] == 0.04
    assert figures["verdict"] == BETTER and figures["mean_nll"] == {"candidate": 2.085, "raw": 2.125}


def test_the_ladder_figures_quoted_for_a_budget_are_those_the_stored_ground_truth_gives():
    """What the data card and the form say of a confirmation budget is recomputed here from
    the ground truth kept beside bench/ladder.py, as make bench-ladder prints it."""
    stored = json.loads((Path(__file__).parents[2] / "bench" / "ladder-ground-truth-400-200-seed0-smollm2.json")
                        .read_text())["ground_truth"]
    shape = LoraSettings(batch_size=4, max_length=128, draws="position")
    measured = [replace(shape, steps=30), replace(shape, steps=60), replace(shape, steps=60, precision="bfloat16"),
                replace(shape, steps=200), replace(shape, steps=60, precision="bfloat16", draws="content")]
    budgets = {budget_name(settings.material()): settings.material() for settings in measured}
    assert set(budgets) == set(LADDER_SEPARATION) >= set(PAIRED_NULL)
    assert budget_name(CONFIRM_BUDGET.material()) == "60x4x128-bfloat16-content"  # the default is measured
    for quotes, other in ((LADDER_SEPARATION, "mixed@0.3"), (PAIRED_NULL, "subset98")):
        for budget, quoted in quotes.items():
            by_rung = stored[budget]
            clean, changed = (np.array([by_rung[rung][s]["nll"] for s in sorted(by_rung[rung])])
                              for rung in ("clean", other))
            assert len(clean) == len(changed) == 3
            mean, low, high = seeded_delta(changed, clean)  # the bench's rung - clean, printed as clean - rung
            assert f"{-mean:+.4f} [{-high:+.4f}, {-low:+.4f}]" == quoted
            assert quoted in ladder_note(budgets[budget])
    # The reseeded-raw noise is quoted where it was measured (make bench-quality's default budget) and only there,
    # with the figure the benchmarks page states.
    benchmarks = (Path(__file__).parents[2] / "docs" / "reference" / "benchmarks.md").read_text()
    for budget in budgets:
        reseeded = RESEEDED_RAW.get(budget)
        assert (reseeded is not None) == (budget == "60x4x128-bfloat16")
        assert reseeded is None or (reseeded in ladder_note(budgets[budget]) and reseeded in benchmarks)


def candidate(key: str, verdict_: str, low: float) -> dict:
    return {"strategy_key": key, "verdict": verdict_, "delta_nll": {"mean": low + 0.01, "ci95": [low, low + 0.02]},
            "per_seed": [low + 0.01] * 3, "search_score": 0.1, "rows": 700, "adapters": [], "mean_nll": {}}


def confirmation(*candidates: dict) -> Confirmation:
    return Confirmation(budget=BUDGET, seeds=3, examples=200, raw_adapters=["r0", "r1", "r2"], candidates=list(candidates))


def test_what_is_published_follows_the_confirmation():
    history = [judged("top", 0.14, 0.005), judged("second", 0.10, 0.003), judged("third", 0.02, 0.001)]
    top, selection = history[0], {"rule": "best_score", "best_scored": "top", "tied": 1, "noise_reach": 0.001}

    best, why = confirmed_choice(history, top, selection, None)
    assert best is top and why["verdict"] == NOT_CONFIRMED
    best, why = confirmed_choice(history, top, selection, confirmation(candidate("top", BETTER, 0.001),
                                                                       candidate("second", BETTER, 0.01)))
    assert best is top and why == {**selection, "verdict": BETTER}  # the search's choice, confirmed, stays
    best, why = confirmed_choice(history, top, selection, confirmation(candidate("top", NOT_SHOWN, -0.01),
                                                                       candidate("second", BETTER, 0.004)))
    assert best.strategy_key == "second"
    assert why["rule"] == "confirmed_better" and why["verdict"] == BETTER and why["search_choice"] == "top"
    best, why = confirmed_choice(history, top, selection, confirmation(candidate("top", NOT_SHOWN, -0.01),
                                                                       candidate("second", WORSE, -0.03)))
    assert best is top and why["verdict"] == NOT_SHOWN  # never published as a win
