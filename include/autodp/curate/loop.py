"""Curation, as the steps the ``autodp_curate`` DAG runs as tasks, with the same names:
``ingest``, ``plan``, each round's ``shard`` (mapped, one task a shard) and ``advance``,
then ``merge``, ``publish`` and ``export``. ``curate`` runs them in one process (the CLI
and the tests), the rounds through ``shards.run_rounds``.

An approved recipe is applied to new data: ``ingest`` refuses an unknown or retired recipe
before any work and quarantines unusable rows; ``plan`` applies data of at most
``shard_rows`` rows at once (stored prefixes are reused) and splits larger data into shards
(``autodp.execution.shards``); ``publish`` validates the output (``autodp.curate.validation``),
checks the batch for drift against the approved search and the previous run
(``autodp.curate.drift``) and publishes it with its data card, validation and drift reports
as a Hugging Face dataset. A failed validation raises ``ValidationFailed``, and a drift
breach under a recipe's fail policy ``DriftFailed``, with the readable report; either
publishes nothing. Each step takes the ``CurateContext`` and small typed state
(``autodp.curate.state``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autodp.artifacts import CURATED, DATA_CARD_FILE, DRIFT_FILE, VALIDATION_FILE
from autodp.curate.config import CurateConfig
from autodp.curate.drift import (
    PREVIOUS,
    SEARCH,
    DriftFailed,
    DriftRules,
    breach_line,
    check,
    figures,
    previous_figures,
    search_figures,
)
from autodp.curate.recipes import last_curated, recipe
from autodp.curate.state import Curated, CurateRun
from autodp.curate.validation import ValidationFailed, validate
from autodp.execution import shards
from autodp.execution.shards import Advanced, Planned, ShardTask
from autodp.execution.strategy import Strategy
from autodp.exports import export_to_store
from autodp.exports.cards import curated_markdown
from autodp.exports.huggingface import hf_dataset_files, hf_name
from autodp.hashing import content_key
from autodp.ingest import ingest as ingest_source
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore, lineage


@dataclass
class CurateContext:
    """What every step works with; a DAG task builds it from its Params and connections."""

    store: ArtifactStore
    config: CurateConfig
    resources: Resources


def ingest(context: CurateContext, source: str | None = None) -> CurateRun:
    """The new data in the store; ``source`` (default: the configuration's) as the workers
    may read it."""
    chosen = recipe(context.store, context.config.recipe)  # refuses an unknown or retired recipe before any work
    ingested = ingest_source(source or context.config.source, context.store, **context.config.ingest_options())
    return CurateRun(context.config.recipe, chosen["recipe_key"], context.config.source, ingested["dataset_key"],
                     ingested["rows_in"], ingested["rows_quarantined"])


def plan(context: CurateContext, run: CurateRun) -> Planned:
    strategy = Strategy.from_data(recipe(context.store, run.recipe)["strategy"])
    return shards.plan(context.store, run.dataset_key, strategy, context.resources, context.config.shard_rows or None)


def shard(context: CurateContext, planned: Planned, task: ShardTask) -> dict[str, Any]:
    return shards.shard(context.store, planned.plan, task, context.resources)


def advance(context: CurateContext, planned: Planned, round_index: int, results: list[dict[str, Any]]) -> Advanced:
    return shards.advance(context.store, planned.plan, round_index, results, context.resources)


def merge(context: CurateContext, planned: Planned, round_results: list[list[dict[str, Any]] | None],
          advances: list[Advanced | None]) -> dict[str, Any]:
    return shards.merge(context.store, planned, round_results, advances, context.resources)


def publish(context: CurateContext, run: CurateRun, applied: dict[str, Any]) -> Curated:
    """Validate the applied recipe's output and publish it with its data card."""
    store, settings = context.store, context.resources.settings
    chosen = recipe(store, run.recipe)
    previous = last_curated(store, run.recipe)
    report = validate(store, applied["output_key"], context.config.rules, previous["rows_out"] if previous else None,
                      settings)
    if not report["success"]:
        raise ValidationFailed(report)
    drifted = check(figures(store, run.dataset_key, applied["steps"], settings),
                    {SEARCH: search_figures(store, chosen, settings),
                     PREVIOUS: previous_figures(store, previous and previous["curated_key"])},
                    DriftRules.from_params(chosen.get("drift")))
    if drifted["breaches"] and drifted["policy"] == "fail":
        raise DriftFailed(drifted)
    key = content_key("curated", "1", {"recipe": chosen["recipe_key"], "output": applied["output_key"]})
    card = {"recipe": run.recipe, "recipe_key": chosen["recipe_key"], "approved_by": chosen["approved_by"],
            "approved_via": chosen.get("approved_via", "cli"),
            "approved_at": chosen["approved_at"], "strategy": chosen["strategy"], "source": run.source,
            "input_dataset_key": run.dataset_key, "output_dataset_key": applied["output_key"],
            "rows": {"ingested": run.rows_in, "quarantined": run.rows_quarantined,
                     "in": applied["rows_in"], "out": applied["rows_out"]},
            "drop_reasons": {s["operator"]: s["dropped"] for s in applied["steps"] if s["dropped"]},
            "shards": applied.get("shards", 1),
            "search_score": chosen["score"], "validation": {"success": True, "checks": len(report["checks"])},
            "drift": {"policy": drifted["policy"], "checks": len(drifted["checks"]), "breaches": drifted["breaches"],
                      "references": drifted["references"], "figures": drifted["figures"]},
            "curated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not store.has(CURATED, key):
        with tempfile.TemporaryDirectory(prefix="autodp-hf-") as tmp:
            hf_files = hf_dataset_files(store, applied["output_key"], Path(tmp), curated_markdown(card),
                                        hf_name(applied["output_key"], run.recipe), settings.dataset_license,
                                        settings=settings)
            store.publish_json(CURATED, key, {DATA_CARD_FILE: card, VALIDATION_FILE: report, DRIFT_FILE: drifted},
                               provenance={"step": "curate", "recipe": chosen["recipe_key"], "source": run.source},
                               summary={"recipe": run.recipe, "recipe_key": chosen["recipe_key"],
                                        "rows_in": applied["rows_in"], "rows_out": applied["rows_out"],
                                        "curated_at": card["curated_at"], "output_dataset_key": applied["output_key"],
                                        "drift_breaches": len(drifted["breaches"])},
                               files=hf_files)
    lineage.wrote_artifact(store, CURATED, key)
    return Curated(key, applied["output_key"], chosen["recipe_key"], card["rows"], card["shards"],
                   [breach_line(b) for b in drifted["breaches"]])


def export(context: CurateContext, curated: Curated) -> dict[str, Any] | None:
    """The curated dataset also as JSONL in the configured layout, as an artifact of its own."""
    if context.config.export_layout == "none":
        return None
    return export_to_store(context.store, curated.curated_key, context.config.export_layout, context.resources.settings)


def curate(store: ArtifactStore, config: CurateConfig, resources: Resources | None = None) -> dict[str, Any]:
    """Every step in this process (the rounds of a sharded apply through ``shards.run_rounds``,
    the same ``shard``, ``advance`` and ``merge``): the curated run's card, key and export."""
    context = CurateContext(store, config, (resources or Resources()).using(store))
    run = ingest(context)
    applied = shards.run_rounds(store, plan(context, run), context.resources)
    curated = publish(context, run, applied)
    exported = export(context, curated)
    card = store.read_json(CURATED, curated.curated_key, DATA_CARD_FILE)
    return {"curated_key": curated.curated_key, **card, "export": exported}
