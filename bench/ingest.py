"""Ingest throughput and peak memory on MedQuAD (47,441 rows), against plain readers.

    .venv/bin/python bench/ingest.py [--runs 3] [--source PATH --map instruction=question ...]

Each trial runs in a fresh process so peak RSS is its own. Peers load the same file with
no validation, no quarantine and no content hashing: they bound what a reader can do, and
the ratio says what autodp's per-row checks cost.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "medquad" / "medquad_all_flat.jsonl.gz"
DEFAULT_MAP = ["instruction=question", "output=answer"]
CONTENDERS = ["autodp", "duckdb_read_json", "pyarrow_read_json"]


def trial(name: str, source: Path, mapping: list[str]) -> dict:
    start = time.perf_counter()
    if name == "autodp":
        from autodp.ingest import ingest
        from autodp.store import LocalStore

        with tempfile.TemporaryDirectory() as tmp:
            rows = ingest(str(source), LocalStore(tmp), mapping=mapping)["rows_in"]
    elif name == "duckdb_read_json":
        import duckdb

        rows = duckdb.sql(f"select count(*) from read_json('{source}', format='newline_delimited')").fetchone()[0]
    elif name == "pyarrow_read_json":
        import pyarrow as pa
        import pyarrow.json as pj

        with pa.input_stream(str(source), compression="detect") as stream:
            rows = pj.read_json(stream).num_rows
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--map", action="append", default=None)
    parser.add_argument("--one", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    mapping = args.map or DEFAULT_MAP
    if args.one:
        print(json.dumps(trial(args.one, args.source, mapping)))
        return
    if not args.source.is_file():
        sys.exit(f"bench/ingest: {args.source} not found (pass --source)")

    results = {}
    for name in CONTENDERS:
        runs = []
        for _ in range(args.runs):
            cmd = [sys.executable, __file__, "--one", name, "--source", str(args.source)]
            cmd += [f"--map={m}" for m in mapping]
            runs.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        seconds = statistics.median(r["seconds"] for r in runs)
        results[name] = {"rows": runs[0]["rows"], "seconds": seconds,
                         "rows_per_s": runs[0]["rows"] / seconds,
                         "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}

    print(f"ingest of {args.source.name}, median of {args.runs} runs, one process each")
    print(f"{'contender':<20}{'rows':>8}{'seconds':>10}{'rows/s':>12}{'peak RSS MB':>14}{'autodp / peer':>16}")
    ours = results["autodp"]["rows_per_s"]
    for name, r in results.items():
        ratio = "" if name == "autodp" else f"{ours / r['rows_per_s']:.2f}x"
        print(f"{name:<20}{r['rows']:>8}{r['seconds']:>10.2f}{r['rows_per_s']:>12,.0f}{r['peak_rss_mb']:>14.0f}{ratio:>16}")
    print("peers only parse: no validation, no quarantine, no record ids, no Parquet output")


if __name__ == "__main__":
    main()
