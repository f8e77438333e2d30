"""Sharded apply: bench-scale's synthetic dataset (1,000,000 rows by default) through its
rule-only strategy (normalize, empty, length, exact and near dedup, PII) in shards, with
1, 2 and 4 shard tasks at a time, against the same strategy applied in one task.

    .venv/bin/python bench/shards.py [--rows 1000000] [--shard-rows 250000] [--parallel 1 2 4]

Every task runs in a process of its own, as an Airflow worker runs it: the plan (split into
shards), each round's shard tasks (``--parallel`` at a time), each round's decision and the
merge, so each peak RSS (wait4's ru_maxrss) is one task's. Each configuration starts from a
store holding only the ingested dataset, so everything is computed. Prints wall time, the
largest peak RSS of a shard task, a decision and the merge, the speed-up against one shard
task at a time, and the one-task apply's time and peak for comparison; checks that every
configuration's records equal the one-task apply's. On a machine with two cores, more than
two tasks at a time cannot run faster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import STEPS, generated, measured  # noqa: E402
from workspace import workspace  # noqa: E402


def task(store: Path, request: dict) -> tuple[dict, float, float]:
    """One task in a process of its own: (its result, seconds, peak RSS MiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        asked, answer = Path(tmp) / "request.json", Path(tmp) / "result.json"
        asked.write_text(json.dumps(request))
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, __file__, "--task", str(asked), "--store", str(store),
                                    "--result", str(answer)])
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"task {request['function']} failed")
        return json.loads(answer.read_text()), seconds, usage.ru_maxrss / 1024


def run_task(request: dict, store_path: str) -> dict:
    from autodp.execution import shards
    from autodp.execution.strategy import Strategy
    from autodp.store import LocalStore

    store = LocalStore(Path(store_path))
    function = request["function"]
    if function == "plan":
        return shards.plan(store, request["dataset_key"], Strategy.from_data(request["strategy"]),
                           shard_rows=request["shard_rows"]).to_dict()
    if function == "merge":
        return shards.merge(store, shards.Planned.from_dict(request["planned"]), request["rounds"],
                            [shards.Advanced.from_dict(a) if a else None for a in request["advances"]])
    shard_plan = shards.ShardPlan.from_dict(request["plan"])
    if function == "shard":
        return shards.shard(store, shard_plan, shards.ShardTask.from_dict(request["task"]))
    return shards.advance(store, shard_plan, request["round_index"], request["results"]).to_dict()


def sharded(store: Path, dataset_key: str, shard_rows: int, parallel: int) -> dict:
    started = time.perf_counter()
    planned, _, plan_peak = task(store, {"function": "plan", "dataset_key": dataset_key, "strategy": STEPS,
                                         "shard_rows": shard_rows})
    items, rounds, advances, shard_peaks, decision_peaks = planned["tasks"], [], [], [], []
    with ThreadPoolExecutor(parallel) as pool:
        for index in range(len(STEPS) + 1):
            if not items:
                break
            ran = list(pool.map(lambda item: task(store, {"function": "shard", "plan": planned["plan"],
                                                           "task": item}), items))
            results = [r for r, _, _ in ran]
            shard_peaks += [peak for _, _, peak in ran]
            advanced, _, peak = task(store, {"function": "advance", "plan": planned["plan"], "round_index": index,
                                             "results": results})
            decision_peaks.append(peak)
            rounds.append(results)
            advances.append(advanced)
            items = advanced["tasks"]
    from autodp.execution.shards import MAX_ROUNDS

    rounds += [None] * (MAX_ROUNDS - len(rounds))
    advances += [None] * (MAX_ROUNDS - len(advances))
    merged, _, merge_peak = task(store, {"function": "merge", "planned": planned, "rounds": rounds,
                                         "advances": advances})
    return {"seconds": time.perf_counter() - started, "shards": merged["shards"], "output_key": merged["output_key"],
            "rows_out": merged["rows_out"], "plan_peak": plan_peak, "shard_peak": max(shard_peaks),
            "decision_peak": max(decision_peaks), "merge_peak": merge_peak, "shard_tasks": len(shard_peaks)}


def records_digest(store: Path, key: str) -> str:
    import duckdb

    return duckdb.sql(f"select md5(string_agg(record_id || ':' || source_row, ',' order by source_row)) "
                      f"from read_parquet('{store}/datasets/{key}/records.parquet')").fetchone()[0]


def fresh_store(folder: Path, name: str, ingested: Path, dataset_key: str) -> Path:
    store = folder / name
    shutil.rmtree(store, ignore_errors=True)
    (store / "datasets").mkdir(parents=True)
    shutil.copytree(ingested / "datasets" / dataset_key, store / "datasets" / dataset_key)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shard-rows", type=int, default=250_000)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB's memory budget per task, default %(default)s")
    parser.add_argument("--task", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.task:
        args.result.write_text(json.dumps(run_task(json.loads(args.task.read_text()), str(args.store))))
        return
    os.environ["AUTODP_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    folder, _, _ = workspace("bench-shards")
    source = generated(folder / f"synthetic-{args.rows}-{args.seed}.jsonl", args.rows, args.seed)
    ingested = folder / "ingested"
    summary, seconds, _ = measured(["ingest", str(source), "--store", str(ingested)])
    key = summary["dataset_key"]
    print(f"{summary['rows_kept']:,} rows ingested; strategy: {', '.join(s['operator'] for s in STEPS)}; "
          f"shards of {args.shard_rows:,} rows; DuckDB memory limit {args.memory_limit} per task", flush=True)

    one_store = fresh_store(folder, "store-one-task", ingested, key)
    strategy = folder / "rules.json"
    strategy.write_text(json.dumps({"name": "rules", "steps": STEPS}))
    single, single_seconds, single_peak = measured(["apply", key, "--strategy", str(strategy),
                                                    "--store", str(one_store)])
    reference = records_digest(one_store, single["output_key"])
    print(f"one task: {single_seconds:.1f} s, peak RSS {single_peak:,.0f} MiB, {single['rows_out']:,} rows out",
          flush=True)

    figures = []
    for parallel in args.parallel:
        store = fresh_store(folder, f"store-parallel-{parallel}", ingested, key)
        run = sharded(store, key, args.shard_rows, parallel)
        assert run["rows_out"] == single["rows_out"], (run, single["rows_out"])
        assert records_digest(store, run["output_key"]) == reference, "sharded records differ from one task's"
        figures.append({"parallel": parallel, **run})
        print(f"{parallel} at a time: {run['seconds']:.1f} s ({run['shard_tasks']} shard tasks over "
              f"{run['shards']} shards), records equal to one task's", flush=True)
    base = figures[0]["seconds"]
    print(f"\n{'tasks at a time':<16}{'wall s':>8}{'speed-up':>10}{'vs one task':>12}{'shard task MiB':>16}"
          f"{'decision MiB':>14}{'merge MiB':>11}{'plan MiB':>10}")
    for f in figures:
        print(f"{f['parallel']:<16}{f['seconds']:>8.1f}{base / f['seconds']:>10.2f}{single_seconds / f['seconds']:>12.2f}"
              f"{f['shard_peak']:>16,.0f}{f['decision_peak']:>14,.0f}{f['merge_peak']:>11,.0f}{f['plan_peak']:>10,.0f}")
    print(f"{'one task':<16}{single_seconds:>8.1f}{'':>10}{1.0:>12.2f}{single_peak:>16,.0f}")
    (folder / "results.json").write_text(json.dumps({"one_task": {"seconds": single_seconds, "peak_rss_mib": single_peak},
                                                     "sharded": figures}, indent=2))


if __name__ == "__main__":
    main()
