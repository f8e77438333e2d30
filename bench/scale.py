"""Scale: a synthetic dataset of 1,000,000 and 4,000,000 rows through ingest, profile and a
rule-only strategy (normalize, empty, length, exact and near dedup, PII).

    .venv/bin/python bench/scale.py [--rows 1000000 4000000] [--seed 0]

Every step runs as the CLI in a process of its own, as a user runs it, so its peak RSS
(wait4's ru_maxrss) is that step's alone. The strategy is applied one step per process:
run k finds steps 1..k-1 in the store (Cache-and-Reuse) and computes step k only. The
rows have realistic shapes: log-normal instruction and response lengths with a long tail,
3% exact duplicates, 3% near duplicates, 2% empty responses, 1% with an e-mail address or
phone number. Prints rows/s and peak RSS per step and size, then the ratios between the
sizes: peak RSS (1.0 is flat in the number of rows) and seconds per row (1.0 is linear).
DuckDB runs under a memory budget (``--memory-limit``, default 2GB) and spills past it.
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
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workspace import workspace  # noqa: E402

AUTODP = Path(sys.executable).parent / "autodp"
STEPS = [{"operator": "normalize_text"}, {"operator": "drop_empty_output"}, {"operator": "length_bounds"},
         {"operator": "exact_dedup"}, {"operator": "near_dedup"}, {"operator": "pii_redaction"}]


def synthetic(path: Path, rows: int, seed: int) -> Path:
    """The dataset as JSONL, made once per (rows, seed)."""
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    syllables = ["pa", "ti", "ro", "me", "su", "ka", "den", "lor", "vi", "qua", "ex", "mon", "tri", "gel", "os"]
    vocabulary = np.array(["".join(rng.choice(syllables, size=rng.integers(1, 4))) for _ in range(6000)])
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)  # Zipf-like word frequencies
    weights /= weights.sum()
    partial = path.with_suffix(".partial")
    chunk = 100_000
    with open(partial, "wb") as out:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            q_len = np.clip(rng.lognormal(2.4, 0.5, n).astype(int), 2, 120)
            a_len = np.clip(rng.lognormal(4.2, 0.9, n).astype(int), 1, 3000)
            words = vocabulary[rng.choice(len(vocabulary), size=int(q_len.sum() + a_len.sum()), p=weights)]
            kind = rng.random(n)
            at, lines, previous = 0, [], None
            for i in range(n):
                question = " ".join(words[at:at + q_len[i]]).capitalize() + "?"
                at += q_len[i]
                answer = " ".join(words[at:at + a_len[i]]).capitalize() + "."
                at += a_len[i]
                if previous is not None and kind[i] < 0.03:
                    question, answer = previous
                elif previous is not None and kind[i] < 0.06:
                    question, answer = previous[0], previous[1] + " Also"
                elif kind[i] < 0.08:
                    answer = ""
                elif kind[i] < 0.09:
                    answer += f" Write to patient{start + i}@example.org or call 555-01{i % 100:02d}-{i % 9000 + 1000}."
                previous = (question, answer)
                lines.append(orjson.dumps({"instruction": question, "input": "", "output": answer}))
            out.write(b"\n".join(lines) + b"\n")
    partial.rename(path)
    return path


def generated(path: Path, rows: int, seed: int) -> Path:
    """The dataset, made in a process of its own: a child inherits its parent's peak RSS
    across exec, so this process stays small to keep each step's figure its own."""
    if not path.exists():
        subprocess.run([sys.executable, __file__, "--generate", str(path), "--rows", str(rows), "--seed", str(seed)],
                       check=True)
    return path


def measured(args: list[str]) -> tuple[dict, float, float]:
    """(the command's JSON output, its seconds, its peak RSS in MiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen([str(AUTODP), *args, "--json"], stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # reaped here, so its own rusage
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"autodp {' '.join(args)} failed: {err.read().decode()[-2000:]}")
        return json.loads(out.read()), seconds, usage.ru_maxrss / 1024


def run_size(folder: Path, rows: int, seed: int) -> list[dict]:
    source = generated(folder / f"synthetic-{rows}-{seed}.jsonl", rows, seed)
    store = folder / f"store-{rows}-{seed}"
    shutil.rmtree(store, ignore_errors=True)  # every step computed, none found stored
    figures = []
    summary, seconds, peak = measured(["ingest", str(source), "--store", str(store)])
    key = summary["dataset_key"]
    figures.append({"step": "ingest", "rows": summary["rows_in"], "seconds": seconds, "peak_rss_mib": peak})
    _, seconds, peak = measured(["profile", key, "--store", str(store)])
    figures.append({"step": "profile", "rows": summary["rows_kept"], "seconds": seconds, "peak_rss_mib": peak})
    for k in range(1, len(STEPS) + 1):
        strategy = folder / f"rules-{k}.json"
        strategy.write_text(json.dumps({"name": f"rules-{k}", "steps": STEPS[:k]}))
        result, seconds, peak = measured(["apply", key, "--strategy", str(strategy), "--store", str(store)])
        step = result["steps"][-1]
        assert step["cache"] == "miss" and result["cache_hits"] == k - 1, result
        figures.append({"step": step["operator"], "rows": step["rows_in"], "seconds": seconds,
                        "step_seconds": step["seconds"], "peak_rss_mib": peak,
                        "rows_out": step["rows_out"], "dropped": sum(step["dropped"].values())})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-limit", default="2GB",
                        help="DuckDB's memory budget per step (AUTODP_DUCKDB_MEMORY_LIMIT), default %(default)s")
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        synthetic(args.generate, args.rows[0], args.seed)
        return
    os.environ["AUTODP_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    print(f"DuckDB memory limit per step: {args.memory_limit}")
    folder, _, _ = workspace("bench-scale")
    results = {}
    for rows in args.rows:
        print(f"-- {rows:,} rows", flush=True)
        results[rows] = run_size(folder, rows, args.seed)
        print(f"{'step':<20}{'rows in':>12}{'process s':>11}{'step s':>9}{'rows/s':>11}{'peak RSS MiB':>14}")
        for f in results[rows]:
            busy = f.get("step_seconds", f["seconds"])
            print(f"{f['step']:<20}{f['rows']:>12,}{f['seconds']:>11.1f}{f.get('step_seconds', float('nan')):>9.1f}"
                  f"{f['rows'] / busy:>11,.0f}{f['peak_rss_mib']:>14,.0f}", flush=True)
    if len(args.rows) > 1:
        small, large = args.rows[0], args.rows[-1]
        print(f"-- {large:,} rows against {small:,} ({large / small:.0f}x the rows)")
        print(f"{'step':<20}{'peak RSS ratio':>15}{'seconds/row ratio':>19}")
        for a, b in zip(results[small], results[large]):
            per_row = (b.get("step_seconds", b["seconds"]) / b["rows"]) / (a.get("step_seconds", a["seconds"]) / a["rows"])
            print(f"{a['step']:<20}{b['peak_rss_mib'] / a['peak_rss_mib']:>15.2f}{per_row:>19.2f}")
    (folder / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
