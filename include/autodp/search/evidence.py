"""What the agent learns of each operator before it proposes: per operator, the share of
rows it would drop or rewrite, as aggregates only (``search/cards.py`` turns them into the
operator cards the agent reads). The sample's evidence comes from the quality scorer's rule
verdicts and relevance margins, scored once per dataset and kept as a ``scores`` artifact;
the deduplicators' from the whole dataset."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from autodp.artifacts import DATASETS, RECORDS_FILE, SCORES, SCORES_FILE
from autodp.execution import shards
from autodp.execution.strategy import Strategy
from autodp.hashing import content_key
from autodp.operators.quality import (
    DEFAULT_SIGNALS,
    MIN_MARGIN,
    RULES,
    SCORER_VERSION,
    check_signals,
    score_records,
    summarize,
    verdicts,
)
from autodp.operators.resources import Resources

# Deduplicators whose evidence is measured on the whole dataset, not the sample: a sample of
# n rows from N holds both copies of a duplicate pair with probability about (n/N)^2, so
# duplicates the full data is full of are nearly absent from it.
DATASET_WIDE_EVIDENCE = ("exact_dedup", "near_dedup")


def score_dataset(dataset_key: str, store, *, signals: tuple[str, ...] = DEFAULT_SIGNALS,
                  resources: Resources | None = None) -> dict[str, Any]:
    """Score a stored dataset and keep the scores as a ``scores`` artifact keyed by the
    dataset, the signals and the models behind them; a repeated call is a lookup."""
    resources = (resources or Resources()).using(store)
    signals = check_signals(signals)
    store.manifest(DATASETS, dataset_key)
    options = {"dataset": dataset_key, "signals": list(signals), "rules": list(RULES),
               "llm": resources.llm_model() if "llm" in signals else None}
    key = content_key("scores", SCORER_VERSION, options)
    if store.has(SCORES, key):
        return {**store.manifest(SCORES, key)["summary"], "cached": True}
    table, seconds = score_records(store.file_location(DATASETS, dataset_key, RECORDS_FILE), resources, signals,
                                   store=store)
    summary = {"scores_key": key, "dataset_key": dataset_key, **summarize(table, signals), "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="autodp-scores-") as tmp:
        path = Path(tmp) / SCORES_FILE
        pq.write_table(table, path)
        store.publish(SCORES, key, {SCORES_FILE: path},
                      provenance={"step": "score", "version": SCORER_VERSION, **options}, summary=summary)
    return {**summary, "cached": False}


def read_scores(store, scores_key: str) -> pa.Table:
    """The table a ``scores`` artifact holds (``COLUMNS``, in source_row order)."""
    return pq.read_table(pa.BufferReader(store.read_bytes(store.artifact_path(SCORES, scores_key, SCORES_FILE))))


def operator_evidence(table: pa.Table) -> dict[str, float]:
    """Per operator, the share of rows it would drop or rewrite, from a scored table's rule
    verdicts and relevance margins: aggregates only, for the agent and the data card."""
    rows = max(table.num_rows, 1)
    touched: dict[str, set[int]] = {}
    for row, verdict in verdicts(table):
        touched.setdefault(verdict.split(":")[0], set()).add(row)
    evidence = {name: round(len(touched.get(name, ())) / rows, 4) for name in RULES}
    margins = [m for m in table["relevance_margin"].to_pylist() if m is not None]
    if margins:
        evidence["mismatched_answer_filter"] = round(sum(m < MIN_MARGIN for m in margins) / rows, 4)
    return evidence


def dataset_evidence(dataset_key: str, store, resources: Resources) -> dict[str, float]:
    """``operator_evidence`` of a stored dataset, from its default-signal scores (scored
    once, then read from the store)."""
    scored = score_dataset(dataset_key, store, resources=resources)
    return operator_evidence(read_scores(store, scored["scores_key"]))


def duplicate_evidence(dataset_key: str, store, resources: Resources,
                       operators: tuple[str, ...] = DATASET_WIDE_EVIDENCE) -> dict[str, float]:
    """Per deduplicator in ``operators``, the share of the whole dataset's rows it drops,
    run alone on it (sharded above AUTODP_SHARD_ROWS; stored under its content key, so it
    runs once and the published strategy's apply can reuse it): aggregates only."""
    evidence = {}
    for name in operators:
        if name not in DATASET_WIDE_EVIDENCE:
            raise ValueError(f"{name!r} has no whole-dataset evidence; these do: {', '.join(DATASET_WIDE_EVIDENCE)}")
        applied = shards.apply(dataset_key, Strategy.from_data([name]), store, resources)
        rows_in = applied["rows_in"] or 0
        evidence[name] = round((rows_in - applied["rows_out"]) / rows_in, 4) if rows_in else 0.0
    return evidence
