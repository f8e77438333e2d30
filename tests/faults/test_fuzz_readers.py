"""Every reader against generated damaged files: each ingest either holds conservation
(rows_in = rows_kept + rows_quarantined, and the stored tables hold exactly those rows) or
exits 2 with one error line naming the file. Never a traceback, never longer than the
per-file bound. ``AUTODP_FUZZ_FILES`` sets how many files (make test-faults: 10,000)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import tempfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

from tests.faults.fuzz_inputs import write_fuzzed_file

FILES = int(os.environ.get("AUTODP_FUZZ_FILES", "600"))
SEED = int(os.environ.get("AUTODP_FUZZ_SEED", "20261201"))
SECONDS_PER_FILE = 20


class Overran(Exception):
    pass


def _alarm(*_):
    raise Overran


def ingest_one(index: int, folder: str) -> tuple[str, str, str, str | None]:
    """(outcome, format, damage, problem): outcome is ingested or refused; problem is None
    when the run kept its promise."""
    from autodp.cli import main
    from autodp.store import LocalStore

    path, fmt, damage, must_ingest = write_fuzzed_file(Path(folder), SEED, index)
    store = Path(folder) / "store"
    out, err = io.StringIO(), io.StringIO()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_FILE)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["ingest", str(path), "--store", str(store), "--json"])
    except Overran:
        return "crashed", fmt, damage, f"{path.name}: ran past {SECONDS_PER_FILE} s"
    except BaseException as error:  # noqa: BLE001  (what the test is looking for)
        return "crashed", fmt, damage, f"{path.name}: {type(error).__name__}: {error}"[:500]
    finally:
        signal.alarm(0)
        path.unlink(missing_ok=True)
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("autodp: error: ") or path.name not in lines[0]:
            return "refused", fmt, damage, f"{path.name}: unclear refusal {err.getvalue()[:300]!r}"
        if must_ingest:
            return "refused", fmt, damage, f"{path.name}: refused a readable file: {lines[0][:300]}"
        return "refused", fmt, damage, None
    if code != 0:
        return "crashed", fmt, damage, f"{path.name}: exit {code}"
    summary = json.loads(out.getvalue())
    if summary["rows_in"] != summary["rows_kept"] + summary["rows_quarantined"]:
        return "ingested", fmt, damage, f"{path.name}: counts do not add up {summary}"
    if sum(summary["quarantine_reasons"].values()) != summary["rows_quarantined"]:
        return "ingested", fmt, damage, f"{path.name}: quarantine reasons do not add up {summary}"
    local = LocalStore(store)
    records = pq.read_metadata(local.file_location("datasets", summary["dataset_key"], "records.parquet")).num_rows
    quarantined = pq.read_metadata(local.file_location("datasets", summary["dataset_key"],
                                                       "quarantine.parquet")).num_rows
    if (records, quarantined) != (summary["rows_kept"], summary["rows_quarantined"]):
        return "ingested", fmt, damage, f"{path.name}: stored tables hold {records}+{quarantined} rows, {summary}"
    return "ingested", fmt, damage, None


def _chunk(indices: list[int]) -> list[tuple[str, str, str, str | None]]:
    with tempfile.TemporaryDirectory(prefix="autodp-fuzz-") as folder:
        os.environ["AUTODP_HOME"] = str(Path(folder) / "home")
        return [ingest_one(index, folder) for index in indices]


def test_every_reader_ingests_or_refuses_clearly_whatever_the_file():
    workers = max(1, min(2, os.cpu_count() or 1))
    chunks = [list(range(i, FILES, workers * 8)) for i in range(workers * 8)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = [result for chunk in pool.map(_chunk, chunks) for result in chunk]
    assert len(results) == FILES
    problems = [problem for *_, problem in results if problem]
    tally = Counter((outcome, fmt) for outcome, fmt, _, _ in results)
    summary = {"files": FILES, "seed": SEED, "outcomes": {f"{o}/{f}": n for (o, f), n in sorted(tally.items())},
               "damage": dict(Counter(d for _, _, d, _ in results)), "problems": len(problems)}
    out = Path(__file__).resolve().parents[2] / "test-output" / "faults"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz-readers.json").write_text(json.dumps(summary, indent=2))
    assert not problems, f"{len(problems)} of {FILES} files broke a promise (seed {SEED}):\n" + "\n".join(problems[:15])
    assert {o for o, _, _, _ in results} == {"ingested", "refused"}, tally
