"""The quality scorer and target selection, measured where the truth is known.

    make bench-scoring    # or: .venv/bin/python bench/scoring.py [--likelihood-rows 600 ...]

1. Planted defects (the set ``make bench-defects`` builds: clean MedQuAD + LIMA, ten
   defect classes, 30% of 3,000 rows): ROC-AUC of ``1 - score`` against "this row is
   defective", for the scorer and for each of its signals alone, overall and per class
   (that class's rows against the clean rows). The rules and relevance signals score
   every row; the likelihood signal (two llama.cpp passes per row, asked for by name) a
   seeded random ``--likelihood-rows`` of them, and all three together are measured on
   those. The default scorer is rules + relevance.
2. Target selection on the same set, as the search runs it (seed 300, the scorer's
   labels): its cross-validated ROC-AUC on the seed, and the ROC-AUC of its probability
   of low quality against the planted truth on every row outside the seed.
3. GPT-4 against text-davinci-003: the 97 Alpaca prompts that ``alpaca_gpt4_en_demo.json``
   answers again. Each side is scored as its own dataset of 97 rows; the figure is the
   share of prompts where GPT-4's answer scores higher (ties count half), with a
   bootstrap 95% interval.

Nothing is tuned on these figures: the scorer's mappings are fixed in ``autodp.operators.quality``.
Artifacts persist under $AUTODP_HOME/bench-defects and bench-scoring.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import defects as defect_bench  # bench/defects.py: the planted-defect set
import numpy as np
import pyarrow as pa
from workspace import workspace  # bench/workspace.py

from autodp import defects
from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.ingest import ingest
from autodp.operators import quality
from autodp.operators.resources import Resources
from autodp.search import evidence
from autodp.search.targeting import load_targets, seed_sample, select_targets

REPO = Path(__file__).resolve().parents[1]
ALPACA = REPO.parent / "shared" / "datasets" / "alpaca"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--likelihood-rows", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    folder, settings, store = workspace("bench-defects")
    resources = Resources(settings=settings)
    paths = defect_bench.build(folder, args.rows, 100, 200, args.seed)
    truth = {row["row"]: row["defect"] for row in map(json.loads, paths["truth"].read_text().splitlines())}
    key = ingest(str(paths["data"]), store)["dataset_key"]
    location = store.file_location(DATASETS, key, RECORDS_FILE)

    rng = random.Random(args.seed)
    subset = frozenset(rng.sample(sorted(truth), min(args.likelihood_rows, len(truth))))
    started = time.perf_counter()
    table, seconds = quality.score_records(location, resources, signals=("rules", "relevance", "likelihood"),
                                           only_rows=subset, store=store)
    print(f"1. Planted defects: {len(truth)} rows, {sum(d != defects.CLEAN for d in truth.values())} defective; "
          f"scored in {time.perf_counter() - started:.0f} s (rules {seconds['rules']:.0f} s, relevance "
          f"{seconds['relevance']:.0f} s on every row; likelihood {seconds['likelihood']:.0f} s on {len(subset)} rows, "
          f"{seconds['likelihood'] / len(subset):.2f} s a row)")
    rows = table.to_pylist()
    defect_of = [truth[r["source_row"]] for r in rows]
    signals = {
        "rules": [r["p_rules"] for r in rows],
        "relevance": [r["p_relevance"] for r in rows],
        "rules + relevance": [1 - quality.combined_score((r["p_rules"], r["p_relevance"])) for r in rows],
        "likelihood": [r["p_likelihood"] for r in rows],
        "all three": [None if r["score"] is None else 1 - r["score"] for r in rows],
    }
    classes = list(defects.DEFECT_CLASSES)
    print("  ROC-AUC of the probability of a defect against the truth (per class: its rows vs clean rows)")
    print(f"  {'signal':<20} {'rows':>5} {'all':>6}" + "".join(f" {c[:10]:>10}" for c in classes))
    for name, values in signals.items():
        scored = [(v, d) for v, d in zip(values, defect_of) if v is not None]
        overall = _auc([v for v, _ in scored], [d != defects.CLEAN for _, d in scored])
        per_class = [_auc([v for v, d in scored if d in (c, defects.CLEAN)],
                          [d == c for v, d in scored if d in (c, defects.CLEAN)]) for c in classes]
        print(f"  {name:<20} {len(scored):>5} {_fmt(overall):>6}" + "".join(f" {_fmt(a):>10}" for a in per_class),
              flush=True)

    started = time.perf_counter()
    targets = select_targets(key, store, seed_size=300, seed=args.seed, resources=resources)
    flagged, quality_by_row = load_targets(store, targets["targets_key"])
    seed_rows = _seed_rows(store, key, 300, args.seed)
    outside = [row for row in truth if row not in seed_rows]
    auc = _auc([1 - quality_by_row[r] for r in outside], [truth[r] != defects.CLEAN for r in outside])
    c = targets["classifier"]
    print(f"\n2. Target selection (labeler {targets['labeler']}, seed {targets['seed_labelled']} rows, "
          f"{targets['seed_low']} labelled low; {time.perf_counter() - started:.0f} s): cv ROC-AUC "
          f"{_fmt(c.get('cv_roc_auc'))}, F1 {_fmt(c.get('cv_f1'))}; ROC-AUC against the planted truth on the "
          f"{len(outside)} rows outside the seed {_fmt(auc)}; {targets['flagged']} rows flagged "
          f"({sum(truth[r] != defects.CLEAN for r in flagged)} of them defective)", flush=True)

    gpt4_vs_davinci(resources, args.seed)


def gpt4_vs_davinci(resources: Resources, seed: int) -> None:
    folder, _, store = workspace("bench-scoring")
    davinci = {_prompt(r): r for r in json.loads((ALPACA / "alpaca_5000.json").read_text())}
    pairs = [(davinci[_prompt(r)], r) for r in json.loads((ALPACA / "alpaca_gpt4_en_demo.json").read_text())
             if _prompt(r) in davinci]
    scores = {}
    for side, records in (("text-davinci-003", [d for d, _ in pairs]), ("gpt-4", [g for _, g in pairs])):
        path = folder / f"{side}.jsonl"
        path.write_text("".join(json.dumps({k: r.get(k, "") for k in ("instruction", "input", "output")}) + "\n"
                                for r in records))
        summary = evidence.score_dataset(ingest(str(path), store)["dataset_key"], store, resources=resources,
                                        signals=("rules", "relevance", "likelihood"))
        scores[side] = evidence.read_scores(store, summary["scores_key"])
    print(f"\n3. GPT-4 vs text-davinci-003 on the {len(pairs)} Alpaca prompts answered by both")
    for signal, column, better in (("scorer (default)", "default", 1), ("scorer with likelihood", "score", 1),
                                   ("relevance margin", "relevance_margin", 1), ("IFD (lower is better)", "ifd", -1)):
        old, new = (np.array(_column(scores[s], column)) for s in ("text-davinci-003", "gpt-4"))
        wins = np.where(better * (new - old) > 1e-9, 1.0, np.where(np.abs(new - old) <= 1e-9, 0.5, 0.0))
        draws = np.random.default_rng(seed).integers(0, len(wins), (2000, len(wins)))
        low, high = np.quantile(wins[draws].mean(axis=1), [0.025, 0.975])
        print(f"  {signal:<22} GPT-4 higher on {wins.mean():.3f} [{low:.2f}, {high:.2f}] of prompts; mean "
              f"{np.nanmean(new):.3f} vs {np.nanmean(old):.3f}")


def _seed_rows(store, key: str, size: int, seed: int) -> set[int]:
    """The rows target selection labelled."""
    from autodp.operators.base import prepare_connection
    from autodp.tables import engine

    with engine.connect(store) as con:
        prepare_connection(con, store.file_location(DATASETS, key, RECORDS_FILE), "records")
        return set(seed_sample(con, "records", size, seed))


def _column(table: pa.Table, name: str) -> list[float]:
    rows = table.sort_by("source_row").to_pylist()
    if name == "default":  # rules and relevance, as `autodp score` without --signals
        return [quality.combined_score((r["p_rules"], r["p_relevance"])) for r in rows]
    return [np.nan if r[name] is None else r[name] for r in rows]


def _prompt(record: dict) -> tuple[str, str]:
    return record["instruction"].strip(), (record.get("input") or "").strip()


def _auc(scores: list[float], positive: list[bool]) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(set(positive)) < 2:
        return None
    return float(roc_auc_score(positive, scores))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
