"""Confirming a search's winners before one is published.

The search ranks candidates by a cheap judge: one short fine-tune per candidate against one
baseline, scored on the evaluation examples that picked the winner. That ranking is noisy
(reseeding the baseline alone moves its win rate), and the best of several noisy scores is
biased upwards (the winner's curse). So the top candidates are fine-tuned again, and so is
the unprocessed data, each with several seeds at a budget where the model learns the data,
and scored on evaluation examples the selection never saw. The arms train on a fresh draw of
rows outside the search sample, the candidates on their strategies applied to it: on the
sample alone (a few hundred rows) a strategy that drops a third of it would be judged on
repeating the rest in the budget's draws, a cost of quantity that the full data, with rows to
spare, never pays. A candidate is "better than raw"
only when the 95% interval of its mean ΔNLL over seeds and examples together lies above zero;
otherwise it is "not shown better than raw" (or "worse than raw" when the interval lies below).

Seed s gives every arm the same LoRA initialisation, the same dropout masks and, in every
batch slot, the same row wherever both arms hold it (``lora.content_draws``), so the arms
differ only where the strategy changed the rows and are compared seed by seed (common random
numbers); the interval resamples seeds and examples together: one model pair per arm is not a
sample of anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from autodp.models import lora
from autodp.search.config import LoraSettings
from autodp.search.evaluation import Example, adapter_nll
from autodp.settings import Settings
from autodp.store import ArtifactStore

BETTER, NOT_SHOWN, WORSE = "better than raw", "not shown better than raw", "worse than raw"
NOT_CONFIRMED = "not confirmed"
RESAMPLES = 2000


def seeded_delta(baseline: np.ndarray, candidate: np.ndarray, seed: int = 0,
                 resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """(mean, low, high) of baseline - candidate over seeds x examples (one row per seed, the
    arms paired by seed), with a bootstrap 95% interval that resamples seeds and examples
    together."""
    if baseline.ndim != 2 or baseline.shape != candidate.shape:
        raise ValueError(f"expected seeds x examples, the same for both arms; got {baseline.shape} and "
                         f"{candidate.shape}")
    gain = baseline - candidate
    rng = np.random.default_rng(seed)
    seeds, examples = gain.shape
    draws = np.empty(resamples)
    for n in range(resamples):
        columns = rng.integers(0, examples, examples)
        draws[n] = gain[rng.integers(0, seeds, seeds)][:, columns].mean()
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(gain.mean()), float(low), float(high)


def verdict(low: float, high: float) -> str:
    """A candidate's verdict from the 95% interval of raw's NLL minus its own."""
    return BETTER if low > 0 else WORSE if high < 0 else NOT_SHOWN


def seeded_nll(store: ArtifactStore, dataset_key: str, base: str, budget: LoraSettings, seeds: int,
               examples: Sequence[Example], settings: Settings | None, reuse: bool) -> tuple[np.ndarray, list[str]]:
    """(seeds x examples NLL, the adapters' keys): one adapter per seed on ``dataset_key``,
    each scored on ``examples`` in the budget's windows and precision."""
    rows, adapters = [], []
    for trained in (replace(budget, seed=budget.seed + s) for s in range(seeds)):
        adapter = lora.finetune(dataset_key, store, base=base, lora=trained, settings=settings, reuse=reuse)
        adapters.append(adapter["adapter_key"])
        rows.append(adapter_nll(store, adapter["adapter_key"], base, list(examples), settings,
                                max_length=budget.max_length, precision=budget.precision))
    return np.stack(rows), adapters


def confirmed(raw: np.ndarray, candidate: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """The figures a confirmed candidate carries: its mean ΔNLL over seeds and examples (raw
    minus candidate; positive favours the candidate), the interval, the verdict, and the mean
    ΔNLL seed by seed."""
    mean, low, high = seeded_delta(raw, candidate, seed)
    return {"delta_nll": {"mean": round(mean, 4), "ci95": [round(low, 4), round(high, 4)]},
            "verdict": verdict(low, high),
            "per_seed": [round(float(v), 4) for v in raw.mean(axis=1) - candidate.mean(axis=1)],
            "mean_nll": {"candidate": round(float(candidate.mean()), 4), "raw": round(float(raw.mean()), 4)}}


# Budgets measured on the quality ladder (make bench-ladder; bench/ladder-ground-truth-*.json), named as the bench
# names them (``budget_name``): the test NLL of clean rows minus that of the same rows with 30% damaged, 3 seeds,
# SmolLM2-135M, 95% interval.
LADDER_SEPARATION = {"30x4x128": "-0.0187 [-0.0421, -0.0021]", "60x4x128": "-0.0269 [-0.0520, -0.0070]",
                     "60x4x128-bfloat16": "-0.0271 [-0.0522, -0.0076]", "200x4x128": "-0.0221 [-0.0419, -0.0046]",
                     "60x4x128-bfloat16-content": "-0.0197 [-0.0253, -0.0135]"}
# The pairing's own noise on the same ladder: clean minus the same rows less a fiftieth of them (subset98), a change
# too small to move the model, so whatever the three seeds call is theirs.
PAIRED_NULL = {"60x4x128-bfloat16": "-0.0086 [-0.0238, +0.0038]", "60x4x128-bfloat16-content": "+0.0002 [-0.0031, +0.0033]"}
# The confirmation's own noise at a budget: raw against raw retrained with the next three seeds, on the 200 test
# references of make bench-quality (Stanford Alpaca 5,000, SmolLM2-135M; docs/reference/benchmarks.md).
RESEEDED_RAW = {"60x4x128-bfloat16": "+0.0124 [-0.0001, +0.0263]"}


def budget_name(budget: dict[str, Any]) -> str:
    """steps x batch x tokens, then the precision when it is not float32 and the draws when
    they are by content: ``60x4x128-bfloat16-content``."""
    precision = budget.get("precision", "float32")  # a budget's key material leaves float32 out
    draws = budget.get("draws", "position")  # and position draws
    return (f"{budget['steps']}x{budget['batch_size']}x{budget['max_length']}"
            + ("" if precision == "float32" else f"-{precision}") + ("" if draws == "position" else f"-{draws}"))


def budget_text(budget: dict[str, Any]) -> str:
    return (f"LoRA {budget['steps']} steps x batch {budget['batch_size']} x {budget['max_length']} tokens"
            + precision_text(budget) + draws_text(budget))


def draws_text(budget: dict[str, Any]) -> str:
    """What a budget's draws add to its description: nothing for position draws."""
    if budget.get("draws", "position") == "position":
        return ""
    return ", the arms drawing the same rows wherever both hold them (common random numbers)"


def precision_text(budget: dict[str, Any]) -> str:
    """What a budget's precision adds to its description: nothing for float32."""
    precision = budget.get("precision", "float32")
    return "" if precision == "float32" else f", trained and scored under {precision} autocast"


def confirmed_arms_text(candidates: int) -> str:
    return "The top candidate" if candidates == 1 else f"The top {candidates} candidates"


def draw_text(draw: dict[str, Any] | None) -> str:
    """What the arms trained on (``SearchRun.confirm_draw``), after "were each fine-tuned"."""
    if not draw:  # confirmed before the draw existed
        return "on the search sample (raw as drawn, a candidate as its strategy left it)"
    where = ("drawn outside the search sample" if draw["fresh"]
             else "of the input, the search sample included, since too few lie outside it")
    return f"on {draw['rows']:,} rows {where} (raw as drawn, a candidate as its strategy leaves them)"


def ladder_note(budget: dict[str, Any]) -> str:
    """What the quality ladder says about a confirmation budget."""
    name = budget_name(budget)
    measured = LADDER_SEPARATION.get(name)
    if measured is None:
        return ("This budget is not measured on the quality ladder (make bench-ladder): whether its seeds can tell "
                "clean data from data with 30% of its rows damaged is unknown.")
    note = (f"On the quality ladder (make bench-ladder), three seeds at this budget separate clean data from the same "
            f"rows with 30% damaged: clean minus damaged test NLL {measured} (SmolLM2-135M).")
    null = PAIRED_NULL.get(name)
    if null:
        note += (f" Clean data against the same rows less a fiftieth of them, a change too small to matter, gives "
                 f"{null}: the seeds' own reach.")
    reseeded = RESEEDED_RAW.get(name)
    if reseeded:
        note += (f" Raw retrained with three other seeds moved ΔNLL by {reseeded} on Alpaca's test references "
                 "(make bench-quality): a gain of that size may be the seeds alone.")
    return note
