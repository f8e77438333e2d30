"""Cache-and-Reuse: a batch of strategies with and without prefix reuse.

    make bench-cache      # or: .venv/bin/python bench/cache.py [--dataset PATH]

The batch is what one search iteration proposes: strategies that share prefixes
(cleaning first, then different selections). "without" applies each strategy to an empty
store, "with" applies the batch to one store in order, "again" re-applies it (a resumed
or cleared run). Median of --runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.store import LocalStore

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "datasets" / "medquad" / "medquad_answered_alpaca.jsonl.gz"
CLEAN = ["normalize_text", "boilerplate_strip", "drop_empty_output"]
BATCH = [
    CLEAN + ["exact_dedup"],
    CLEAN + ["exact_dedup", {"length_bounds": {"min_output_chars": 40}}],
    CLEAN + ["exact_dedup", {"near_dedup": {"threshold": 0.8}}],
    CLEAN + ["exact_dedup", {"near_dedup": {"threshold": 0.8}}, {"length_bounds": {"max_output_chars": 4000}}],
    CLEAN + [{"near_dedup": {"threshold": 0.7}}],
    CLEAN + ["pii_redaction", "exact_dedup"],
    CLEAN + ["hallucinated_url_filter", "merged_instruction_filter", "exact_dedup"],
    CLEAN + ["hallucinated_url_filter", "merged_instruction_filter", {"near_dedup": {"threshold": 0.8}}],
]


def run_batch(dataset: Path, share_store: bool) -> tuple[float, float, int, int]:
    """Seconds spent applying the batch, seconds to apply it again, steps reused, computed."""
    strategies = [Strategy.from_data(s) for s in BATCH]
    with tempfile.TemporaryDirectory() as tmp:
        stores = [LocalStore(Path(tmp) / ("shared" if share_store else f"alone-{n}")) for n in range(len(BATCH))]
        key = ""
        for store in {s.root: s for s in stores}.values():
            key = ingest(str(dataset), store)["dataset_key"]
        first = again = 0.0
        hits = computed = 0
        for strategy, store in zip(strategies, stores):
            start = time.perf_counter()
            result = apply_strategy(key, strategy, store)
            first += time.perf_counter() - start
            hits, computed = hits + result["cache_hits"], computed + result["cache_misses"]
        for strategy, store in zip(strategies, stores):
            start = time.perf_counter()
            apply_strategy(key, strategy, store)
            again += time.perf_counter() - start
    return first, again, hits, computed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    without = [run_batch(args.dataset, share_store=False) for _ in range(args.runs)]
    with_cache = [run_batch(args.dataset, share_store=True) for _ in range(args.runs)]
    plain = statistics.median(r[0] for r in without)
    reused = statistics.median(r[0] for r in with_cache)
    again = statistics.median(r[1] for r in with_cache)
    steps = sum(len(s) for s in BATCH)
    print(f"{len(BATCH)} strategies, {steps} steps, on {args.dataset.name}; median of {args.runs}")
    print(f"  without Cache-and-Reuse : {plain:8.2f} s  ({without[0][3]} steps computed)")
    print(f"  with Cache-and-Reuse    : {reused:8.2f} s  ({with_cache[0][3]} computed, {with_cache[0][2]} reused)"
          f"  speedup {plain / reused:.1f}x")
    print(f"  the batch again (resume): {again:8.3f} s  speedup {plain / again:.0f}x")


if __name__ == "__main__":
    main()
