"""Rule operators and near dedup: autodp against py-data-juicer and datatrove on the same
rows, in the same run; then near-dedup recall and precision against GPTeacher's sets.

    make bench-operators        # sets up bench/.venv-peers, then runs this

Rows: alpaca_5000 (5,000) and MedQuAD's answered pairs (16,407), from ../shared/datasets.
Each contender's time is the median of --runs runs of the operator alone (data already
in memory). Throughput per core divides by the cores a contender uses: autodp's DuckDB
and data-juicer's num_proc use 2, datatrove's local executor 1. Equivalents are as close
as the peers allow and are named in the table; data-juicer's text operators see one
field (the output), autodp's see all three.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.operators.base import prepare_connection
from autodp.store import LocalStore

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
PEERS_PYTHON = REPO / "bench" / ".venv-peers" / "bin" / "python"
DATASETS_TO_RUN = {
    "alpaca_5000": (SHARED / "alpaca" / "alpaca_5000.json", None),
    "medquad_answered": (SHARED / "medquad" / "medquad_answered_alpaca.jsonl.gz", None),
}
# autodp operator (params) -> the peers' closest equivalents
OPERATORS = {
    "length_bounds": ({}, ["data_juicer", "datatrove"]),
    "drop_empty_output": ({}, ["datatrove"]),
    "pii_redaction": ({"kinds": ["email", "ip_address"]}, ["data_juicer", "datatrove"]),
    "normalize_text": ({}, ["data_juicer"]),
    "exact_dedup": ({}, ["data_juicer"]),
    "near_dedup": ({"threshold": 0.7, "ngram": 3, "num_perm": 128}, ["data_juicer", "datatrove"]),
}
AUTODP_CORES = 2


def time_autodp(records_path: str, name: str, params: dict, runs: int) -> dict:
    [step] = Strategy.from_data([{name: params}]).steps
    timings, rows_out = [], 0
    for _ in range(runs):
        with duckdb.connect() as con:
            con.execute(f"set threads = {AUTODP_CORES}")
            prepare_connection(con, records_path, "step_0")
            start = time.perf_counter()
            outcome = step.operator.run(con, "step_0", "step_1", 1)
            timings.append(time.perf_counter() - start)
            rows_out = outcome.rows_out
    return {"seconds": statistics.median(timings), "rows_out": rows_out, "cores": AUTODP_CORES}


def time_peer(tool: str, name: str, rows_file: Path, runs: int, threshold: float) -> dict | None:
    done = subprocess.run([str(PEERS_PYTHON), str(REPO / "bench" / "peers_operators.py"), tool, name,
                           str(rows_file), "--runs", str(runs), "--threshold", str(threshold)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1][:120]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def throughput_table(runs: int) -> None:
    print(f"{'dataset':<18}{'operator':<20}{'contender':<13}{'rows':>7}{'out':>7}{'seconds':>9}"
          f"{'rows/s':>11}{'rows/s/core':>13}{'autodp x':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "store")
        for label, (source, mapping) in DATASETS_TO_RUN.items():
            key = ingest(str(source), store, mapping=mapping)["dataset_key"]
            records = store.file_location(DATASETS, key, RECORDS_FILE)
            rows_file = Path(tmp) / f"{label}.jsonl"
            duckdb.sql(f"copy (select instruction, input, output from read_parquet('{records}') order by source_row) "
                       f"to '{rows_file}' (format json)")
            rows = duckdb.sql(f"select count(*) from read_parquet('{records}')").fetchone()[0]
            for name, (params, peers) in OPERATORS.items():
                ours = time_autodp(records, name, params, runs)
                ours_per_core = rows / ours["seconds"] / ours["cores"]
                _row(label, name, "autodp", rows, ours, "")
                for tool in peers:
                    theirs = time_peer(tool, name, rows_file, runs, params.get("threshold", 0.7))
                    if theirs is None or "error" in theirs:
                        print(f"{label:<18}{name:<20}{tool:<13}  unavailable: {theirs and theirs['error']}")
                        continue
                    ratio = ours_per_core / (rows / theirs["seconds"] / theirs["cores"])
                    _row(label, name, tool, rows, theirs, f"{ratio:.1f}x")


def _row(label, name, contender, rows, result, ratio) -> None:
    per_second = rows / result["seconds"]
    print(f"{label:<18}{name:<20}{contender:<13}{rows:>7}{result['rows_out']:>7}{result['seconds']:>9.3f}"
          f"{per_second:>11,.0f}{per_second / result['cores']:>13,.0f}{ratio:>10}", flush=True)


def dedup_quality() -> None:
    """Recall and precision of autodp's near dedup against GPTeacher Toolformer's
    similarity-filtered sets: the rows a set leaves out of the dedup-only set are the
    reference duplicates. The sets' own similarity measure is not documented; their removed
    rows each have a partner at a character-sequence ratio of 0.9 or more, so character
    shingles are the closest MinHash setting. A small grid is swept and reported whole."""
    folder = SHARED / "dedup_gpteacher"
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "store")
        key = ingest(str(folder / "toolformer-dedupe-only-dataset.json"), store)["dataset_key"]
        records = store.file_location(DATASETS, key, RECORDS_FILE)
        base = duckdb.sql(f"select source_row, instruction, input, output from read_parquet('{records}')").fetchall()
        print(f"\nnear-dedup quality on GPTeacher Toolformer ({len(base)} rows), autodp near_dedup (MinHash LSH)")
        print(f"{'reference':<11}{'text':<8}{'shingle':>8}{'jaccard>=':>10}{'reference dups':>16}{'found':>7}"
              f"{'recall':>8}{'precision':>11}{'seconds':>9}")
        for reference in ("0.9", "0.8", "0.7", "0.6"):
            kept = {tuple(r.values()) for r in json.loads((folder / f"toolformer-similarity-{reference}-dataset.json").read_text())}
            truth = {row for row, *texts in base if tuple(texts) not in kept}
            level = float(reference)
            grid = [("output", "char", 5, round(level - 0.2, 2)), ("output", "char", 5, round(level - 0.1, 2)),
                    ("output", "word", 1, round(level - 0.1, 2)), ("record", "char", 5, round(level - 0.1, 2)),
                    ("record", "char", 5, level)]
            for text, unit, ngram, threshold in grid:
                with duckdb.connect() as con:
                    prepare_connection(con, records, "step_0")
                    [step] = Strategy.from_data([{"near_dedup": {"threshold": threshold, "text": text,
                                                                 "unit": unit, "ngram": ngram}}]).steps
                    start = time.perf_counter()
                    step.operator.run(con, "step_0", "step_1", 1)
                    seconds = time.perf_counter() - start
                    found = {r for (r,) in con.execute("select source_row from drops").fetchall()}
                hit = len(found & truth)
                print(f"{reference:<11}{text:<8}{unit + str(ngram):>8}{threshold:>10.2f}{len(truth):>16}{len(found):>7}"
                      f"{hit / len(truth):>8.3f}{hit / max(len(found), 1):>11.3f}{seconds:>9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    if not PEERS_PYTHON.exists():
        sys.exit("bench/operators: run bench/setup-peers.sh first (make bench-operators does)")
    throughput_table(args.runs)
    if not args.skip_quality:
        dedup_quality()


if __name__ == "__main__":
    main()
