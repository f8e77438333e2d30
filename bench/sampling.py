"""Distribution Preserving Sampling on a large input: every prompt embedded vs a uniform frame.

    make bench-sampling   # or: .venv/bin/python bench/sampling.py [--dataset PATH --size N]

Three ways to draw a search sample of --size rows from MedQuAD (47,441 records, the main
job's default): DPS embedding every prompt (``frame_rows=None``), DPS on a seeded
uniform frame of 10,000 rows (the default), and a plain uniform sample (the peer with no
strata at all). Time is one cold run each (a store and caches of its own, seed 0). Fidelity is
judged for all three on one yardstick that none of them chose: strata from k-means over
the embeddings of every prompt x length quartiles of the full set; the figures are the
Jensen-Shannon divergence of the sample's stratum shares from the full set's and the
Kolmogorov-Smirnov distance of output lengths, medians over --seeds seeds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.ingest import ingest
from autodp.operators.resources import Resources
from autodp.search.sampling import js_divergence, ks_statistic, sample
from autodp.settings import Settings
from autodp.store import LocalStore
from autodp.text import prompt_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "datasets" / "medquad" / "medquad_all_flat.jsonl.gz"
MAPPING = {"instruction": "question", "output": "answer"}
CONFIGURATIONS = {"DPS, every prompt embedded": {"frame_rows": None},
                  "DPS, 10,000-row frame": {"frame_rows": 10_000}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="autodp-bench-sampling-") as tmp:
        root = Path(tmp)
        store = LocalStore(root / "store")
        key = ingest(str(args.dataset), store, mapping=MAPPING if "medquad" in args.dataset.name else None)[
            "dataset_key"]
        table = pq.read_table(store.file_location(DATASETS, key, RECORDS_FILE),
                              columns=["source_row", "instruction", "input", "output"]).to_pylist()
        print(f"{args.dataset.name}: {len(table)} records; samples of {args.size}, fidelity medians over "
              f"{args.seeds} seeds", flush=True)

        homes = {name: root / f"home-{n}" for n, name in enumerate(CONFIGURATIONS)}
        # Each configuration cold: a store of its own (embeddings are kept in the store) and a home of its own.
        stores = {name: LocalStore(root / f"store-{n}") for n, name in enumerate(CONFIGURATIONS)}
        samples: dict[str, list[set[int]]] = {}
        seconds: dict[str, float] = {}
        embedded: dict[str, int] = {}
        for name, options in CONFIGURATIONS.items():
            own = stores[name]
            ingest(str(args.dataset), own, mapping=MAPPING if "medquad" in args.dataset.name else None)
            resources = Resources(settings=Settings(home=homes[name], store_uri=str(own.root)))
            started = time.perf_counter()
            drawn = [sample(key, own, size=args.size, seed=0, resources=resources, **options)]
            seconds[name] = time.perf_counter() - started
            embedded[name] = resources.embedder.computed
            drawn += [sample(key, own, size=args.size, seed=s, resources=resources, **options)
                      for s in range(1, args.seeds)]
            samples[name] = [_rows(own, d["dataset_key"]) for d in drawn]
        started = time.perf_counter()
        rows = np.array([r["source_row"] for r in table])
        samples["uniform (no strata)"] = [set(np.random.default_rng(s).choice(rows, args.size, replace=False).tolist())
                                          for s in range(args.seeds)]
        seconds["uniform (no strata)"], embedded["uniform (no strata)"] = time.perf_counter() - started, 0

        every = stores["DPS, every prompt embedded"]
        full_embedding = Resources(settings=Settings(home=homes["DPS, every prompt embedded"],
                                                     store_uri=str(every.root))).using(every).embedder
        strata, lengths = _yardstick(table, full_embedding)
        reference = seconds["DPS, every prompt embedded"]
        position = {row: i for i, row in enumerate(rows.tolist())}
        print(f"{'configuration':<28} {'time':>8} {'speedup':>8} {'embedded':>9} {'JS divergence':>14} "
              f"{'length KS':>10}")
        for name, drawn in samples.items():
            js = statistics.median(_js(strata, [position[r] for r in d]) for d in drawn)
            ks = statistics.median(ks_statistic(lengths, lengths[[position[r] for r in d]]) for d in drawn)
            speedup = f"{reference / seconds[name]:7.1f}x" if name in CONFIGURATIONS else f"{'-':>8}"
            print(f"{name:<28} {seconds[name]:7.1f}s {speedup} {embedded[name]:>9} "
                  f"{js:>14.4f} {ks:>10.4f}", flush=True)


def _rows(store: LocalStore, key: str) -> set[int]:
    return set(pq.read_table(store.file_location(DATASETS, key, RECORDS_FILE), columns=["source_row"])
               .column("source_row").to_pylist())


def _yardstick(table: list[dict], embedder) -> tuple[np.ndarray, np.ndarray]:
    """Each record's reference stratum (k-means over all prompts x length quartile) and output length."""
    from sklearn.cluster import KMeans

    vectors = embedder.encode([prompt_text(r) for r in table])
    clusters = KMeans(n_clusters=8, random_state=0, n_init=3).fit_predict(vectors)
    total = np.array([len(r["instruction"]) + len(r["input"]) + len(r["output"]) for r in table])
    quartile = np.searchsorted(np.quantile(total, [0.25, 0.5, 0.75]), total, side="right")
    return clusters * 4 + quartile, np.array([len(r["output"]) for r in table])


def _js(strata: np.ndarray, picked: list[int]) -> float:
    full = np.bincount(strata, minlength=32) / len(strata)
    chosen = np.bincount(strata[picked], minlength=32) / len(picked)
    return js_divergence(full, chosen)


if __name__ == "__main__":
    main()
