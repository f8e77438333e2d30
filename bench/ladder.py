"""The quality ladder: does an evaluation signal order datasets whose quality is known?

    make bench-ladder                  # every signal on every rung, held against the stored ground truth
    .venv/bin/python bench/ladder.py --ground-truth [--rungs clean mixed@0.3]   # the ground truth (slow)

The rungs are built from the clean records ``bench-defects`` uses (MedQuAD's answered pairs
and LIMA's single-turn English pairs, one per near-duplicate group), keeping those every
defect class can be planted in (``autodp.defects.ladder_eligible``); ``--rows`` of them
(default 400) and ``--test-rows`` clean test references (default 200) that no rung holds:
- four dose ladders (``autodp.defects.LADDER_CLASSES``): ``mixed`` (every class at its
  bench-defects proportion), ``mismatched``, ``truncated`` and ``empty`` (empty and
  placeholder answers), each the same rows with 0, 10, 30 and 50% of them damaged; the 0%
  rung is ``clean``, shared by all four;
- ``subset10``, ``subset25`` and ``subset50``: the clean rung cut to a tenth, a quarter and a
  half of its rows (quantity; each holds the smaller ones);
- ``repeated2``, ``repeated5`` and ``repeated10``: a half, a fifth and a tenth of the clean rows,
  each twice, five and ten times, in place of the others (diversity; repeated10 repeats
  subset10's rows).
- ``subset98``: the clean rung less a fiftieth of its rows, too few to matter: against clean,
  the ground truth's own reach with its seeds (how well they pair the arms).

Signals, each higher-is-better, each against the clean rung on the same test references:
- ``gradient_inner`` and ``gradient_cosine`` (``autodp.search.gradient_value``): per-record
  LoRA gradients at the fine-tune's starting point aligned with the test references', in the
  ground truth's windows (``--gt-length``); no training, no seed;
- ``gradient_flow@10``: the same features, followed past the first step by gradient flow on
  saturating record losses (repeats counted) for a horizon of 10; it is also measured at the
  horizons ``FLOW_HORIZONS``, and the verdict at each is printed: the horizon is calibrated
  on this ladder, so a second ladder (``--seed 1``) is the test it was not fitted to;
- ``nll@10``: the search's reference judge today: LoRA 10 steps x batch 8 x 256 tokens on the
  rung (by default clean, mixed@0.3, mixed@0.5 and the extra rungs: each adapter costs minutes), minus
  the mean NLL per token of the test references (seed 0; seed 1 on the ``--spread``
  rungs gives the seed-to-seed spread);
- ``contrastive@10``: the same adapters, the contrastive margin (``evaluation.contrastive_margin``)
  on the first 50 test references, 2 distractor prompts each.

Per signal and dose ladder: Spearman correlation with the dose order, pairwise decision
accuracy over all pairs of rungs, and whether each adjacent pair's difference has a 95%
interval (bootstrap over references) excluding zero; the extra rungs' verdicts against
clean; the seed spread; the cost of one candidate (first time, and with caches warm). A
signal passes when it orders every dose ladder (Spearman 1, pairwise accuracy >= 0.9, clean
vs 30% separated) and agrees with a budget's ground truth wherever that truth is measured
and separated: each rung against clean, and each pair of other rungs. The verdict is printed
against each budget measured, the most steps (where the model has learned the data) first:
which of two rungs is better can depend on the budget.

The ground truth fine-tunes rungs where the model has learned the data (``--gt-steps`` 200
LoRA steps x ``--gt-seeds`` 3 at batch ``--gt-batch`` 4 in ``--gt-length`` 128-token windows, two
epochs of a rung; 15 to 27 minutes an adapter at one thread beside other runs) and scores the
test references' NLL in the same windows; a difference's interval resamples seeds and
references together, pairing the arms by seed (the same LoRA initialisation, dropout masks
and, drawn by content (``--gt-draws``, the default), the same row in every batch slot where
both rungs hold it; a budget drawn so is named with a ``-content`` suffix). It is the order
every cheap signal is held against; a pair it did not measure is printed as unmeasured,
never assumed. Everything is stored under
$AUTODP_HOME/bench-ladder (adapters in its store, figures in results.json), so a later run
only re-prints what it already measured. The ground truth the benchmarks page (docs/reference/benchmarks.md) states is kept beside
this file: ``ladder-ground-truth-400-200-seed0-smollm2.json`` at 200, 60 (the search's confirmation
budget) and 30 steps x 4 x 128: three seeds of clean and mixed@0.3 at each budget, of subset10 and
repeated5 at 60 and 30 and of subset25 at 60; one of subset10, repeated5, subset25 and subset50 at
200 and of subset50 at 60, and at 60 also one of mixed@0.1, mixed@0.5 and each class at 30%,
all drawn by position; at 60 under bfloat16, three seeds of clean, mixed@0.3 and subset98 drawn
by content and of subset98 drawn by position;
``...-seed1-...``, the second ladder (``--seed 1``), one seed of clean, mixed@0.3, repeated5 and
subset10 at 200 steps and of those, subset25, subset50 and mixed@0.1 at 60. A machine without its
own reads them.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import tempfile
import time
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from defects import _without_near_duplicates, clean_sources  # bench/defects.py
from scipy.stats import spearmanr
from workspace import workspace  # bench/workspace.py

from autodp import defects
from autodp.ingest import ingest
from autodp.models import lora
from autodp.models.lora import DRAWS, PRECISIONS, load_adapted
from autodp.search.config import LoraSettings
from autodp.search.confirmation import budget_name, seeded_delta
from autodp.search.evaluation import (
    Example,
    adapter_nll,
    bootstrap_mean,
    contrastive_margin,
    reference_nll,
)
from autodp.search.gradient_value import (
    FLOW_HORIZON,
    GradientFeatures,
    alignment,
    per_reference_value,
    stored_features,
)
from autodp.text import prompt_text

CLEAN_RUNG = "clean"
# Quantity and diversity: name -> (share of the clean rows kept, times each is repeated).
# Quantity and diversity: name -> (percent of the clean rows kept, times each is repeated). subset98 is the
# pairing's own test: a fiftieth of the rows gone, too few to matter, so under common random numbers it should
# land on clean, and any difference the ground truth calls is the seeds'.
EXTRA_RUNGS = {"subset10": (10, 1), "repeated5": (20, 5),  # the first two, kept as they were built
               "subset25": (25, 1), "subset50": (50, 1), "repeated2": (50, 2), "repeated10": (10, 10),
               "subset98": (98, 1)}
FLOW = f"gradient_flow@{FLOW_HORIZON:g}"
# The horizons the flow form is measured at: its calibration (FLOW_HORIZON is one of them).
FLOW_HORIZONS = (1.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0, 15.0, 20.0, 30.0, 100.0)
GRADIENT_SIGNALS = ("gradient_inner", "gradient_cosine") + tuple(f"gradient_flow@{h:g}" for h in FLOW_HORIZONS)
SIGNALS = ("gradient_inner", "gradient_cosine", FLOW, "nll@10", "contrastive@10")
TRAINED_SIGNALS = ("nll@10", "contrastive@10")
CONTRASTIVE_REFERENCES = 50
DISTRACTORS = 2
# The rungs that get 10-step adapters by default: on two cores each costs minutes.
TRAINED_RUNGS = ("clean", "mixed@0.3", "mixed@0.5", "subset10", "repeated5")
RESAMPLES = 2000
PER_RECORD_RUNG = "mixed@0.5"  # every class planted: the per-record figures are measured on it


def rung_name(ladder: str, dose: float) -> str:
    return CLEAN_RUNG if dose == 0 else f"{ladder}@{dose:g}"


def build_rungs(folder: Path, rows: int, test_rows: int, seed: int
                ) -> tuple[dict[str, list[dict]], list[dict], dict[str, list[str]]]:
    """(rung name -> records, test references, rung name -> each row's planted defect or
    ``clean``), written once to ``folder`` and read back after."""
    path = folder / f"rungs-{rows}-{test_rows}-seed{seed}.json"
    saved = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if "truth" in saved and set(EXTRA_RUNGS) <= set(saved["rungs"]):
        return saved["rungs"], saved["test"], saved["truth"]
    records, foreign = clean_sources()
    records = [r for r in _without_near_duplicates(records, folder) if defects.ladder_eligible(r)]
    rng = random.Random(seed)
    rng.shuffle(records)
    if len(records) < rows + test_rows:
        raise SystemExit(f"{len(records)} eligible clean records; {rows + test_rows} needed")
    pool = [_pair(r) for r in records[:rows]]
    test = [_pair(r) for r in records[rows:rows + test_rows]]
    rungs: dict[str, list[dict]] = {}
    truth: dict[str, list[str]] = {}
    for ladder, classes in defects.LADDER_CLASSES.items():
        for dose, rung in defects.dose_ladder(pool, classes, defects.LADDER_DOSES, foreign, seed=seed).items():
            rungs[rung_name(ladder, dose)] = [_pair(r) for r in rung]
            truth[rung_name(ladder, dose)] = [r["defect"] for r in rung]
    order = rng.sample(range(rows), rows)
    for name, (percent, times) in EXTRA_RUNGS.items():  # drawn in this order, so adding a rung moves none before it
        kept = order[:rows * percent // 100]
        if times == 1:
            rungs[name] = [pool[i] for i in sorted(kept)]
        else:
            rungs[name] = [pool[i] for i in kept for _ in range(times)]
            rng.shuffle(rungs[name])
    truth.update({name: [defects.CLEAN] * len(rungs[name]) for name in EXTRA_RUNGS})
    for name, records in {**saved.get("rungs", {}), "test": saved.get("test", test)}.items():
        if (test if name == "test" else rungs.get(name)) != records:
            raise SystemExit(f"{path}: {name} would be rebuilt differently; move the file aside to rebuild all")
    path.write_text(json.dumps({"rungs": rungs, "test": test, "truth": truth}, ensure_ascii=False), encoding="utf-8")
    return rungs, test, truth


class Results:
    """Figures measured so far, by rung and signal, kept in results.json between runs. The
    ground truth and the signals may run as two processes at once: each write re-reads the
    file under a lock and adds its own figure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = json.loads(path.read_text()) if path.exists() else {}

    def get(self, *keys: str) -> Any:
        node = self.data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def put(self, value: Any, *keys: str) -> None:
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.data = json.loads(self.path.read_text()) if self.path.exists() else {}
            node = self.data
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
            staged = self.path.with_suffix(".tmp")
            staged.write_text(json.dumps(self.data, indent=1))
            os.replace(staged, self.path)


def gradient_signals(rungs, test, results: Results, store, base: str, settings, window: int) -> None:
    """Both gradient forms on every rung, the per-reference values stored, and per record of
    ``PER_RECORD_RUNG`` its cosine alignment with the references; the costs of a first
    candidate (the clean rung from an empty cache) and of a warm one. Features are kept in
    the bench's store, so a rerun computes none; a figure already stored is not measured again."""
    def wanted(name: str) -> bool:
        return (not all(results.get("signals", signal, name) for signal in GRADIENT_SIGNALS)
                or (name == PER_RECORD_RUNG and not results.get("per_record", name)))

    if not any(wanted(name) for name in rungs):
        return
    extractor = GradientFeatures(base=base, settings=settings, lora=LoraSettings(max_length=window), batch_size=8)
    measure_cost = not results.get("costs", "gradient")
    started = time.perf_counter()
    if measure_cost:
        extractor.network  # noqa: B018 -- the model loads here, timed apart from the first candidate
    loaded = time.perf_counter() - started
    references, _ = stored_features(store, extractor, [(e.prompt, e.reference) for e in _examples(test)])
    for name, records in rungs.items():
        if not (wanted(name) or (measure_cost and name == CLEAN_RUNG)):
            continue
        started = time.perf_counter()
        computed = extractor.computed
        features = stored_features(store, extractor, _pairs(records))[0]
        seconds = time.perf_counter() - started
        for form in ("inner", "cosine"):
            results.put(per_reference_value(features, references, form).tolist(), "signals", f"gradient_{form}", name)
        for horizon in FLOW_HORIZONS:
            started = time.perf_counter()
            results.put(per_reference_value(features, references, "flow", horizon).tolist(),
                        "signals", f"gradient_flow@{horizon:g}", name)
            if name == CLEAN_RUNG and horizon == FLOW_HORIZON:
                results.put({"candidate_s": round(time.perf_counter() - started, 3), "rows": len(records)},
                            "costs", "flow")
        if name == PER_RECORD_RUNG:
            results.put(alignment(features, references, "cosine").mean(axis=1).tolist(), "per_record", name)
        print(f"  gradient features: {name:<16} {len(records)} rows, {extractor.computed - computed} computed, "
              f"{seconds:.1f} s", flush=True)
        if measure_cost and name == CLEAN_RUNG and extractor.computed - computed == len(set(_pairs(records))):
            started = time.perf_counter()
            per_reference_value(extractor.features(_pairs(rungs["subset10"])), references, "cosine")
            results.put({"model_load_s": round(loaded, 1), "first_candidate_s": round(seconds, 1),
                         "first_candidate_rows": len(records), "warm_candidate_s": round(time.perf_counter() - started, 3),
                         "note": "first: the clean rung's features from an empty cache (model load apart); warm: a "
                         "candidate whose rows are all known (subset10)"}, "costs", "gradient")


def report_per_record(results: Results, truth: dict[str, list[str]]) -> None:
    """The per-record cosine alignment as a detector: ROC-AUC of low alignment for each
    planted class against the clean rows of ``PER_RECORD_RUNG``."""
    from sklearn.metrics import roc_auc_score

    values = results.get("per_record", PER_RECORD_RUNG)
    print(f"\nPer record (one record's cosine alignment with the references, low = defective): ROC-AUC of each "
          f"planted class against the clean rows of {PER_RECORD_RUNG}:")
    if not values:
        print("  not measured")
        return
    labels = truth[PER_RECORD_RUNG]
    for defect in sorted(set(labels) - {defects.CLEAN}):
        rows = [i for i, label in enumerate(labels) if label in (defect, defects.CLEAN)]
        auc = roc_auc_score([labels[i] == defect for i in rows], [-values[i] for i in rows])
        print(f"  {defect:<20} {auc:.3f}  ({sum(labels[i] == defect for i in rows)} rows)")


def trained_signals(rungs, test, results: Results, store, folder: Path, base: str, settings, names, seeds) -> None:
    """nll@10 and contrastive@10 for the rungs ``names`` at each seed in ``seeds``."""
    examples = _examples(test)
    for name in names:
        for seed in seeds:
            if results.get("signals", f"nll@10/seed{seed}", name) is not None:
                continue
            started = time.perf_counter()
            dataset_key = _ingest(store, folder, rungs[name], name)
            settings_ = LoraSettings(steps=10, seed=seed)
            adapter = lora.finetune(dataset_key, store, base=base, lora=settings_, settings=settings)["adapter_key"]
            trained = time.perf_counter() - started
            model, tokenizer = load_adapted(store, adapter, base, settings)
            nll = reference_nll(model, tokenizer, examples)
            scored = time.perf_counter() - started - trained
            margin = contrastive_margin(model, tokenizer, examples[:CONTRASTIVE_REFERENCES], DISTRACTORS, seed=0)
            contrasted = time.perf_counter() - started - trained - scored
            results.put((-nll).tolist(), "signals", f"nll@10/seed{seed}", name)
            results.put(margin.tolist(), "signals", f"contrastive@10/seed{seed}", name)
            results.put({"train_s": round(trained, 1), "nll_s": round(scored, 1),
                         "contrastive_s": round(contrasted, 1)},
                        "costs", "trained", f"{name}/seed{seed}")
            print(f"  10-step adapter: {name:<16} seed {seed}: trained {trained:.0f} s, nll {scored:.0f} s, "
                  f"contrastive {contrasted:.0f} s", flush=True)


def ground_truth(rungs, test, results: Results, store, folder: Path, base: str, settings, names, steps, seeds, length,
                 batch, precision: str = "float32", draws: str = "content") -> None:
    examples = _examples(test)
    shared = LoraSettings(steps=steps, batch_size=batch, max_length=length, precision=precision, draws=draws)
    budget = budget_name(shared.material())
    for seed in range(seeds):  # seed-major: a run cut short has every rung at the same number of seeds
        for name in names:
            if results.get("ground_truth", budget, name, str(seed)) is not None:
                continue
            started = time.perf_counter()
            dataset_key = _ingest(store, folder, rungs[name], name)
            trained = lora.finetune(dataset_key, store, base=base, lora=replace(shared, seed=seed), settings=settings)
            scoring = time.perf_counter()
            nll = adapter_nll(store, trained["adapter_key"], base, examples, settings, max_length=length,
                              precision=precision)  # as the confirmation scores its adapters
            done = time.perf_counter()
            # train_seconds: the training loop's, from the adapter's record (also when it was trained before)
            results.put({"nll": nll.tolist(), "loss_first": trained["loss_first"], "loss_last": trained["loss_last"],
                         "seconds": round(done - started, 1), "train_seconds": trained["seconds"],
                         "score_seconds": round(done - scoring, 1), "trained_before": trained["cached"]},
                        "ground_truth", budget, name, str(seed))
            print(f"  ground truth {budget}: {name:<16} seed {seed}: test NLL {nll.mean():.4f} (train loss "
                  f"{trained['loss_first']:.3f} -> {trained['loss_last']:.3f}), {done - started:.0f} s "
                  f"(training {trained['seconds']:.0f} s{', stored before' if trained['cached'] else ''}, scoring "
                  f"{done - scoring:.0f} s)", flush=True)


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over references, and its bootstrap 95% interval. With a seed axis
    first (seeds x references, the same seeds in both), seeds and references are resampled
    together, the arms paired by seed (``confirmation.seeded_delta``)."""
    if a.ndim == 1:
        return bootstrap_mean(a - b, seed, RESAMPLES)
    return seeded_delta(a, b, seed, RESAMPLES)


def report_ground_truth(results: Results) -> dict[str, dict[str, Any]]:
    """Per budget: the order of the rungs measured and each one's verdict against clean."""
    truths = {}
    for budget, by_rung in (results.get("ground_truth") or {}).items():
        nll = {name: np.array([by_seed[s]["nll"] for s in sorted(by_seed)]) for name, by_seed in by_rung.items()}
        print(f"\nGround truth at LoRA {budget} (steps x batch x tokens), test NLL per token over "
              f"{len(next(iter(nll.values()))[0])} references (lower is better):")
        print(f"  {'rung':<16} {'seeds':>5} {'NLL':>8} {'seed sd':>8}  vs clean on the seeds both have: "
              f"dNLL (clean - rung) [95%]  verdict")
        verdicts = {}
        for name, values in sorted(nll.items(), key=lambda item: item[1].mean()):
            spread = values.mean(axis=1).std(ddof=1) if len(values) > 1 else float("nan")
            line = f"  {name:<16} {len(values):>5} {values.mean():>8.4f} {spread:>8.4f}"
            if name != CLEAN_RUNG and CLEAN_RUNG in nll:
                common = min(len(nll[name]), len(nll[CLEAN_RUNG]))  # the seeds both have, paired
                mean, low, high = paired_interval(nll[name][:common], nll[CLEAN_RUNG][:common])  # positive: worse
                verdict = "worse" if low > 0 else "better" if high < 0 else "not separated"
                verdicts[name] = verdict
                line += f"  {-mean:+.4f} [{-high:+.4f}, {-low:+.4f}]  {verdict}"
            print(line)
        pairs = {}  # (a, b) -> "better", "worse" or "not separated": a against b, on the seeds both have
        for first, second in combinations(sorted(set(nll) - {CLEAN_RUNG}), 2):
            common = min(len(nll[first]), len(nll[second]))
            _, low, high = paired_interval(nll[second][:common], nll[first][:common])
            pairs[(first, second)] = "better" if low > 0 else "worse" if high < 0 else "not separated"
        truths[budget] = {"nll": {k: float(v.mean()) for k, v in nll.items()}, "verdicts": verdicts, "pairs": pairs}
    if not truths:
        print("\nGround truth: not measured yet (bench/ladder.py --ground-truth); the dose ladders' order is the "
              "dose order by construction, and the extra rungs' places are unknown")
    return truths


def budgets_by_steps(truths: dict[str, Any]) -> list[str]:
    """The budgets measured, the most steps first: the one where the model has learned the
    data leads, a shorter one (the confirmation's) follows."""
    return sorted(truths, key=lambda budget: -int(budget.split("x")[0]))


def judge(signal: str, values: dict[str, np.ndarray], truths: dict[str, Any],
          ladder_lines: list[str] | None = None, extra_lines: list[str] | None = None) -> dict[str | None, list[str]]:
    """Why ``signal`` fails the ladder against each budget's ground truth in ``truths`` (None:
    none measured; an empty list: it passes): the dose order on every ladder, pairwise accuracy
    >= 0.9, clean vs 30% separated, and no disagreement with the ground truth where it is
    measured, against clean or between two rungs it separates. The dose checks and each
    rung's interval against clean do not depend on the budget, so they are computed once. The
    figures behind it go to ``ladder_lines`` and ``extra_lines`` (against the most steps)."""
    ladder_lines = [] if ladder_lines is None else ladder_lines
    extra_lines = [] if extra_lines is None else extra_lines
    failed: list[str] = []
    for ladder in defects.LADDER_CLASSES:
        names = [rung_name(ladder, dose) for dose in defects.LADDER_DOSES if rung_name(ladder, dose) in values]
        if len(names) < 2:
            ladder_lines.append(f"  {signal:<16} {ladder:<12} {len(names):>5}  not measured")
            failed.append(f"{ladder} ladder not measured")
            continue
        means = [values[n].mean() for n in names]
        rho = spearmanr(range(len(names)), [-m for m in means]).statistic if len(names) > 2 else float("nan")
        pairs = list(combinations(range(len(names)), 2))
        accuracy = sum(means[i] > means[j] for i, j in pairs) / len(pairs)
        adjacent = []
        for i in range(len(names) - 1):
            mean, low, high = paired_interval(values[names[i]], values[names[i + 1]])
            word = "yes" if low > 0 else "WRONG WAY" if high < 0 else "no"
            adjacent.append(f"{word} {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
        clean_vs_30 = [n for n in names if n.endswith("@0.3")]
        separated = bool(clean_vs_30) and paired_interval(values[CLEAN_RUNG], values[clean_vs_30[0]])[1] > 0
        if len(names) < len(defects.LADDER_DOSES):
            failed.append(f"{ladder} ladder: {len(names)} of {len(defects.LADDER_DOSES)} rungs measured")
        if (len(names) > 2 and not rho > 0.999) or accuracy < 0.9:
            failed.append(f"{ladder} ladder misordered (Spearman {rho:.2f}, pairwise {accuracy:.2f})")
        if not separated:
            failed.append(f"{ladder}: clean vs 30% not separated")
        ladder_lines.append(f"  {signal:<16} {ladder:<12} {len(names):>5} {rho:>9.2f} {accuracy:>9.2f}  "
                            + "; ".join(adjacent))
    budgets = budgets_by_steps(truths) or [None]
    named = {name for budget in budgets if budget for name in truths[budget]["verdicts"]}
    against_clean = {name: paired_interval(values[name], values[CLEAN_RUNG])
                     for name in dict.fromkeys((*EXTRA_RUNGS, "mixed@0.3", *sorted(named)))
                     if name in values and CLEAN_RUNG in values}
    return {budget: failed + _truth_checks(signal, values, against_clean, truths.get(budget) if budget else None,
                                           extra_lines if budget == budgets[0] else None)
            for budget in budgets}


def _truth_checks(signal: str, values: dict[str, np.ndarray], against_clean: dict[str, tuple[float, float, float]],
                  truth: dict[str, Any] | None, extra_lines: list[str] | None) -> list[str]:
    """Where ``signal`` disagrees with one budget's ground truth: a rung against clean, or a
    pair of rungs the truth separates."""
    truth = truth or {"verdicts": {}, "pairs": {}}
    failed: list[str] = []
    for name, (mean, low, high) in against_clean.items():
        verdict = "better" if low > 0 else "worse" if high < 0 else "not separated"
        expected = truth["verdicts"].get(name, "unmeasured")
        if extra_lines is not None and (name in EXTRA_RUNGS or name == "mixed@0.3" or expected != "unmeasured"):
            agrees = "" if expected == "unmeasured" else ("  agrees" if expected == verdict else "  DISAGREES")
            extra_lines.append(f"  {signal:<16} {name:<16} {mean:+.4f} [{low:+.4f}, {high:+.4f}] {verdict:<14} "
                               f"truth: {expected}{agrees}")
        if expected not in ("unmeasured", verdict):
            failed.append(f"{name}: {verdict}, fine-tuning says {expected}")
    for (first, second), expected in sorted(truth["pairs"].items()):
        if expected != "not separated" and first in values and second in values:
            difference = float((values[first] - values[second]).mean())
            if (difference > 0) != (expected == "better"):
                failed.append(f"{first} {'above' if difference > 0 else 'below'} {second}, fine-tuning says "
                              f"{expected}")
    return failed


def report_signals(rungs, results: Results, truths) -> None:
    signals = {}
    for signal in SIGNALS + GRADIENT_SIGNALS:
        key = f"{signal}/seed0" if signal in TRAINED_SIGNALS else signal
        values = results.get("signals", key) or {}
        if values:
            signals[signal] = {name: np.array(v) for name, v in values.items()}
    budgets = budgets_by_steps(truths)
    ladder_lines: list[str] = []
    extra_lines: list[str] = []
    failures = {signal: judge(signal, signals[signal], truths, ladder_lines, extra_lines)
                for signal in SIGNALS if signal in signals}
    horizons = [h for h in FLOW_HORIZONS if f"gradient_flow@{h:g}" in signals]
    by_horizon = {h: failures.get(f"gradient_flow@{h:g}") or judge(f"gradient_flow@{h:g}",
                                                                   signals[f"gradient_flow@{h:g}"], truths)
                  for h in horizons}
    print("\nSignals on the dose ladders (higher is better; the expected order is the dose order):")
    print(f"  {'signal':<16} {'ladder':<12} {'rungs':>5} {'Spearman':>9} {'pairwise':>9}  adjacent separated "
          f"(difference, 95% interval)")
    print("\n".join(ladder_lines))
    print(f"\nRungs against clean (rung - clean; the verdict of the ground truth at "
          f"{budgets[0] if budgets else 'no budget'}, the most steps, where measured):")
    print("\n".join(extra_lines))
    spread_rows = []
    for signal in TRAINED_SIGNALS:
        by_seed = results.get("signals") or {}
        seed0, seed1 = by_seed.get(f"{signal}/seed0", {}), by_seed.get(f"{signal}/seed1", {})
        for name in sorted(set(seed0) & set(seed1)):
            a, b = np.array(seed0[name]), np.array(seed1[name])
            spread_rows.append(f"  {signal:<16} {name:<12} seed 0 {a.mean():+.4f}, seed 1 {b.mean():+.4f}: "
                               f"difference {a.mean() - b.mean():+.4f}")
    print("\nSeed-to-seed spread (the gradient signals have no seed):")
    print("\n".join(spread_rows) or "  not measured")
    print("\nCost of one candidate on this machine:")
    gradient = results.get("costs", "gradient")
    if gradient:
        print(f"  gradient_*        first {gradient['first_candidate_s']} s for {gradient['first_candidate_rows']} "
              f"rows (+ {gradient['model_load_s']} s model load once); warm {gradient['warm_candidate_s']} s")
    flow = results.get("costs", "flow")
    if flow:
        print(f"  {FLOW:<17} the features as above, then {flow['candidate_s']} s for {flow['rows']} rows (the "
              "eigendecomposition over a candidate's distinct records)")
    trained = results.get("costs", "trained") or {}
    if trained:
        train = np.median([c["train_s"] for c in trained.values()])
        nll = np.median([c["nll_s"] for c in trained.values()])
        contrast = np.median([c["contrastive_s"] for c in trained.values()])
        print(f"  nll@10            {train + nll:.0f} s (train {train:.0f} + score {nll:.0f}, median of "
              f"{len(trained)}); no warm cache: every candidate is a new adapter")
        print(f"  contrastive@10    {train + contrast:.0f} s (train {train:.0f} + score {contrast:.0f}) alone; "
              f"+{contrast:.0f} s beside nll@10")
    for budget in budgets or [None]:
        held_against = f"the ground truth at {budget}" if budget else "a ground truth (none is measured)"
        print("\nVerdict (passes: the dose order on every ladder, pairwise accuracy >= 0.9, clean vs 30% separated, "
              f"and no disagreement with {held_against}, against clean or between two rungs it separates):")
        for signal, failed in failures.items():
            print(f"  {signal:<16} {'PASSES' if not failed[budget] else 'fails: ' + '; '.join(failed[budget])}")
        if horizons:
            print(f"  the flow form at each horizon ({FLOW} is the one the project uses):")
            for horizon in horizons:
                failed = by_horizon[horizon][budget]
                print(f"  {horizon:>6g}  "
                      f"{'PASSES' if not failed else f'fails ({len(failed)}): ' + '; '.join(failed[:3])}"
                      f"{'; ...' if len(failed) > 3 else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400, help="rows of each rung (subset10 has a tenth)")
    parser.add_argument("--test-rows", type=int, default=200, help="clean test references no rung holds")
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trained-rungs", nargs="*", default=list(TRAINED_RUNGS),
                        help="rungs that get 10-step adapters (default: clean, mixed@0.3 and @0.5, the extra rungs)")
    parser.add_argument("--spread", nargs="*", default=[CLEAN_RUNG, "mixed@0.3"],
                        help="rungs that also get a seed-1 adapter, for the seed spread")
    parser.add_argument("--no-trained", action="store_true", help="only the gradient signals")
    parser.add_argument("--report-only", action="store_true", help="print what is stored, measure nothing")
    parser.add_argument("--ground-truth", action="store_true", help="fine-tune --rungs at the ground-truth budget")
    parser.add_argument("--rungs", nargs="*", default=[CLEAN_RUNG, "mixed@0.3"], help="the ground truth's rungs")
    parser.add_argument("--gt-steps", type=int, default=200)
    parser.add_argument("--gt-seeds", type=int, default=3)
    parser.add_argument("--gt-length", type=int, default=128)
    parser.add_argument("--gt-batch", type=int, default=4)
    parser.add_argument("--gt-precision", choices=PRECISIONS, default="float32",
                        help="bfloat16: train under bfloat16 autocast (its budget is named with a -bfloat16 suffix)")
    parser.add_argument("--gt-draws", choices=DRAWS, default="content",
                        help="how batch slots draw rows: content (common random numbers; its budget is named with a "
                             "-content suffix) or position (the draw adapters had before)")
    args = parser.parse_args()

    folder, settings, store = workspace("bench-ladder")
    rungs, test, truth = build_rungs(folder, args.rows, args.test_rows, args.seed)
    name = f"{args.rows}-{args.test_rows}-seed{args.seed}-{args.model}"
    results = Results(folder / f"results-{name}.json")
    stored_truth = Path(__file__).with_name(f"ladder-ground-truth-{name}.json")
    if stored_truth.exists():  # the runs kept with the code (docs/reference/benchmarks.md): each budget this machine has not measured
        for budget, by_rung in json.loads(stored_truth.read_text())["ground_truth"].items():
            if not results.get("ground_truth", budget):
                results.put(by_rung, "ground_truth", budget)
    print(f"ladder: {len(rungs)} rungs of {args.rows} rows ({', '.join(rungs)}); {len(test)} clean test references; "
          f"{os.cpu_count()} cores", flush=True)
    if args.ground_truth and not args.report_only:
        ground_truth(rungs, test, results, store, folder, args.model, settings, args.rungs, args.gt_steps,
                     args.gt_seeds, args.gt_length, args.gt_batch, args.gt_precision, args.gt_draws)
    elif not args.report_only:
        gradient_signals(rungs, test, results, store, args.model, settings, args.gt_length)
        if not args.no_trained:
            trained_signals(rungs, test, results, store, folder, args.model, settings, args.trained_rungs, [0])
            trained_signals(rungs, test, results, store, folder, args.model, settings, args.spread, [1])
    truths = report_ground_truth(results)
    report_signals(rungs, results, truths)
    report_per_record(results, truth)


def _examples(test: list[dict]) -> list[Example]:
    return [Example(prompt_text(r), r["output"]) for r in test]


def _pairs(records: list[dict]) -> list[tuple[str, str]]:
    return [(prompt_text(r), r["output"]) for r in records]


def _ingest(store, folder: Path, records: list[dict], name: str) -> str:
    """The rung as a stored dataset; its file is this process's own (a ground-truth and a
    signals run may ingest the same rung at once)."""
    with tempfile.TemporaryDirectory(dir=folder, prefix="rung-") as tmp:
        path = Path(tmp) / f"{name.replace('@', '-')}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        return ingest(str(path), store)["dataset_key"]


def _pair(record: dict[str, Any]) -> dict[str, Any]:
    return {"instruction": record["instruction"], "input": record.get("input", ""), "output": record["output"]}


if __name__ == "__main__":
    main()
