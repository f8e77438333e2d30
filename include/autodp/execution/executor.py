"""Apply a strategy to a stored dataset, reusing every prefix already computed.

The output of steps 1..i is a dataset artifact keyed by (input dataset key, steps 1..i in
canonical form, operator versions, executor version). Before running, the executor finds
the longest prefix already in the store and starts from there, so a repeated strategy
costs a lookup and strategies that share a prefix compute it once, within a run and
across runs, on a local store or on S3.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from autodp.artifacts import CHANGES_FILE, DATASETS, DROPS_FILE, LLM_FAILURES_FILE, RECORDS_FILE
from autodp.execution.strategy import Step, Strategy
from autodp.hashing import content_key
from autodp.operators.base import StepOutcome, prepare_connection
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore, lineage
from autodp.tables import engine

EXECUTOR_VERSION = "1"


def step_key_material(step: Step, resources: Resources) -> dict[str, Any]:
    """What makes a step's output: operator, version, params, and for LLM operators the
    model that answered and which rows it was allowed to process; for a step that runs a
    registered augmentation model, that model's entry."""
    material = step.key_material()
    model = getattr(step.operator.params, "model", None)
    if model:  # a registered augmentation model, by the key of the entry its name resolves to
        material["augmentation_model"] = resources.augmentation_entry(model, step.operator.augmentation_task)["key"]
    if step.operator.needs_llm:
        material["llm"] = resources.llm_model()
        if resources.targets is not None:
            material["targets"] = content_key("targets", "1", {"rows": sorted(resources.targets)})
    if step.operator.stage == "selection" and resources.quality_scores is not None:
        material["quality_scores"] = content_key("scores", "1", {"scores": sorted(resources.quality_scores.items())})
    return material


def prefix_keys(dataset_key: str, strategy: Strategy, resources: Resources | None = None) -> list[str]:
    resources = resources or Resources()
    keys, previous = [], dataset_key
    for step in strategy.steps:
        previous = content_key("apply", EXECUTOR_VERSION,
                               {"input": previous, "step": step_key_material(step, resources)})
        keys.append(previous)
    return keys


def degraded_keys(keys: list[str], index: int, failures: dict[str, int], strategy: Strategy,
                  resources: Resources) -> list[str]:
    """Keys from step ``index`` on, for a run whose LLM calls at that step failed after their
    retries: the step's output (those records left as they were) is stored under a key of its
    own, never under the key a complete run owns, so a later run recomputes it instead of
    reusing it, and the steps after it chain from that key."""
    changed = list(keys[:index])
    changed.append(content_key("apply-degraded", EXECUTOR_VERSION, {"complete": keys[index], "llm_failures": failures}))
    for step in strategy.steps[index + 1:]:
        changed.append(content_key("apply", EXECUTOR_VERSION,
                                   {"input": changed[-1], "step": step_key_material(step, resources)}))
    return changed


def apply_strategy(dataset_key: str, strategy: Strategy, store: ArtifactStore,
                   resources: Resources | None = None, reuse: bool = True) -> dict[str, Any]:
    """Run ``strategy`` over dataset ``dataset_key``; return the output key and per-step summary.
    ``reuse=False`` computes every step even when its prefix is stored (to measure the cache)."""
    resources = (resources or Resources()).using(store)
    store.manifest(DATASETS, dataset_key)  # fails clearly on an unknown dataset
    keys = prefix_keys(dataset_key, strategy, resources)
    cached = 0
    while reuse and cached < len(keys) and store.has(DATASETS, keys[cached]):
        cached += 1
    steps = [_cached_step(store, keys[i]) for i in range(cached)]
    started = time.perf_counter()
    if cached < len(keys):
        start_key = keys[cached - 1] if cached else dataset_key
        with engine.connect(store, settings=resources.settings) as con, \
                tempfile.TemporaryDirectory(prefix="autodp-apply-") as tmp:
            prepare_connection(con, store.file_location(DATASETS, start_key, RECORDS_FILE), first_table=f"step_{cached}")
            for ran in run_steps(con, strategy, resources, start=cached):
                if ran.llm_failures:
                    keys = degraded_keys(keys, ran.index, ran.llm_failures, strategy, resources)
                steps.append(_publish_step(con, store, Path(tmp) / str(ran.index + 1), ran, keys, dataset_key,
                                           resources))
    output_key = keys[-1] if keys else dataset_key
    lineage.read_artifact(store, DATASETS, dataset_key)
    lineage.wrote_artifact(store, DATASETS, output_key)
    return {
        "dataset_key": dataset_key,
        "strategy_key": strategy.key(),
        "output_key": output_key,
        "rows_in": steps[0]["rows_in"] if steps else None,
        "rows_out": steps[-1]["rows_out"] if steps else None,
        "cache_hits": cached,
        "cache_misses": len(keys) - cached,
        # Over the steps computed now; a stored prefix cost no call.
        "llm_calls": sum(step["llm_calls"] for step in steps[cached:]),
        "llm_rows_skipped": sum(step["llm_rows_skipped"] for step in steps[cached:]),
        "llm_failures": dict(sum((Counter(step.get("llm_failures", {})) for step in steps[cached:]), Counter())),
        "seconds": round(time.perf_counter() - started, 3),
        "llm_usage": resources._llm.usage.as_dict() if resources._llm is not None else None,
        "embeddings": ({"computed": resources._embedder.computed, "cached": resources._embedder.cached}
                       if resources._embedder is not None else None),
        "steps": steps,
    }


@dataclass(frozen=True)
class StepRun:
    """One step just run by ``run_steps``: its output is in table ``output``."""

    index: int  # 0-based position in the strategy
    step: Step
    output: str
    outcome: StepOutcome
    llm_calls: int
    llm_rows_skipped: int  # rows an LLM step left alone because target selection did not flag them
    seconds: float
    llm_failures: dict[str, int]  # calls given up on after retries, answers unreadable; by reason
    llm_failed_rows: list[tuple[int, str]]  # (source_row, reason) of each of those calls made for a record


def run_steps(con: duckdb.DuckDBPyConnection, strategy: Strategy, resources: Resources, start: int = 0,
              table: str = "step") -> Iterator[StepRun]:
    """Run ``strategy.steps[start:]`` in ``con`` (set up by ``prepare_connection``, the input
    in table ``{table}_{start}``): step i reads ``{table}_{i}``, writes ``{table}_{i+1}`` and
    appends its drops and changes. Each step is yielded once its output exists; its input
    table is dropped when the caller asks for the next one."""
    for index in range(start, len(strategy.steps)):
        step = strategy.steps[index]
        source, target = f"{table}_{index}", f"{table}_{index + 1}"
        started = time.perf_counter()
        calls_before, failures_before, rows_before = _llm_counts(resources)
        outcome = step.operator.run(con, source, target, index + 1, resources)
        skipped = (_unflagged(con, source, resources.targets)
                   if step.operator.needs_llm and resources.targets is not None else 0)
        calls_after, failures_after, _ = _llm_counts(resources)
        failed_rows = resources._llm.usage.failed_rows[rows_before:] if resources._llm is not None else []
        yield StepRun(index, step, target, outcome, calls_after - calls_before, skipped,
                      round(time.perf_counter() - started, 3), dict(sorted((failures_after - failures_before).items())),
                      failed_rows)
        con.execute(f"drop table {source}")


def _llm_counts(resources: Resources) -> tuple[int, Counter[str], int]:
    """The data-LLM calls made so far, their failures by reason, and how many failures were
    recorded per row (none before its first use)."""
    if resources._llm is None:
        return 0, Counter(), 0
    usage = resources._llm.usage
    return usage.calls, Counter(usage.failures), len(usage.failed_rows)


def _publish_step(con, store: ArtifactStore, folder: Path, ran: StepRun, keys: list[str], dataset_key: str,
                  resources: Resources) -> dict[str, Any]:
    """Write one computed step's records, drops and changes, and publish them under its prefix key."""
    index, step, outcome = ran.index, ran.step, ran.outcome
    folder.mkdir()
    con.execute(f"copy (select * from {ran.output} order by source_row) to '{folder / RECORDS_FILE}' (format parquet)")
    con.execute(f"copy (select * exclude (step) from drops where step = {index + 1}) "
                f"to '{folder / DROPS_FILE}' (format parquet)")
    con.execute(f"copy (select * exclude (step) from changes where step = {index + 1}) "
                f"to '{folder / CHANGES_FILE}' (format parquet)")
    files = {RECORDS_FILE: folder / RECORDS_FILE, DROPS_FILE: folder / DROPS_FILE, CHANGES_FILE: folder / CHANGES_FILE}
    if ran.llm_failed_rows:
        files[LLM_FAILURES_FILE] = _write_failed_rows(con, ran, folder / LLM_FAILURES_FILE)
    summary = {
        "step": index + 1,
        "operator": step.name,
        "version": step.operator.version,
        "params": step.canonical()["params"],
        "key": keys[index],
        "rows_in": outcome.rows_in,
        "rows_out": outcome.rows_out,
        "dropped": outcome.dropped,
        "changed": outcome.changed,
        "added": outcome.added,
        "llm_calls": ran.llm_calls,
        "llm_rows_skipped": ran.llm_rows_skipped,
        "llm_failures": ran.llm_failures,
        "llm_failed_records": len({row for row, _ in ran.llm_failed_rows}),
        "seconds": ran.seconds,
    }
    store.publish(
        DATASETS, keys[index], files,
        provenance={"step": "apply", "version": EXECUTOR_VERSION, "dataset": dataset_key,
                    "parent": keys[index - 1] if index else dataset_key,
                    "operator": step_key_material(step, resources)},
        summary=summary,
    )
    return {**summary, "cache": "miss"}


def _write_failed_rows(con, ran: StepRun, path: Path) -> Path:
    """One row per (record, reason): the record as the step left it (unchanged by the failed
    call), the operator, the reason and the number of calls."""
    import pyarrow as pa

    con.register("_failed_arrow", pa.table({"source_row": pa.array([r for r, _ in ran.llm_failed_rows], pa.int64()),
                                            "reason": pa.array([why for _, why in ran.llm_failed_rows], pa.string())}))
    con.execute(f"""
        copy (select f.source_row, o.record_id, '{ran.step.name}' as operator, f.reason, count(*) as calls
              from _failed_arrow f left join {ran.output} o using (source_row)
              group by f.source_row, o.record_id, f.reason order by f.source_row, f.reason)
        to '{path}' (format parquet)""")
    con.unregister("_failed_arrow")
    return path


def _unflagged(con, table: str, targets: frozenset[int]) -> int:
    rows = [r for (r,) in con.execute(f"select source_row from {table}").fetchall()]
    return sum(1 for r in rows if r not in targets)


def _cached_step(store: ArtifactStore, key: str) -> dict[str, Any]:
    return {**store.manifest(DATASETS, key)["summary"], "cache": "hit"}

