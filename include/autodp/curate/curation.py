"""Curation: an approved recipe applied to new data, validated, and published.

``curate`` ingests the new data, applies the recipe's strategy (stored prefixes are
reused), validates the output (``autodp.curate.validation``) and publishes it with its
data card and validation report; a failed validation raises ``ValidationFailed`` with
the readable report and publishes nothing.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autodp.artifacts import CURATED, DATA_CARD_FILE, VALIDATION_FILE
from autodp.curate.recipes import recipe
from autodp.curate.validation import ValidationRules, report_text, validate
from autodp.execution import shards
from autodp.execution.strategy import Strategy
from autodp.exports.cards import curated_markdown
from autodp.exports.huggingface import hf_dataset_files, hf_name
from autodp.hashing import content_key
from autodp.ingest import ingest
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore, lineage


class ValidationFailed(RuntimeError):
    """The curated output failed validation; nothing was published."""

    def __init__(self, report: dict[str, Any]):
        super().__init__(report_text(report))
        self.report = report


def curate(store: ArtifactStore, source: str, recipe_name: str, rules: ValidationRules | None = None,
           resources: Resources | None = None, **ingest_options: Any) -> dict[str, Any]:
    resources = resources or Resources()
    chosen = recipe(store, recipe_name)
    ingested = ingest(source, store, **ingest_options)
    applied = shards.apply(ingested["dataset_key"], Strategy.from_data(chosen["strategy"]), store, resources)
    return publish_curated(store, recipe_name, source, ingested, applied, rules, resources)


def publish_curated(store: ArtifactStore, recipe_name: str, source: str, ingested: dict[str, Any],
                    applied: dict[str, Any], rules: ValidationRules | None = None,
                    resources: Resources | None = None) -> dict[str, Any]:
    """Validate an applied recipe's output and publish it with its data card (the last
    step of ``curate``; autodp_curate runs the apply before it as tasks of its own)."""
    resources = resources or Resources()
    chosen = recipe(store, recipe_name)
    previous = last_curated(store, recipe_name)
    report = validate(store, applied["output_key"], rules, previous["rows_out"] if previous else None,
                      resources.settings)
    if not report["success"]:
        raise ValidationFailed(report)
    key = content_key("curated", "1", {"recipe": chosen["recipe_key"], "output": applied["output_key"]})
    card = {"recipe": recipe_name, "recipe_key": chosen["recipe_key"], "approved_by": chosen["approved_by"],
            "approved_via": chosen.get("approved_via", "cli"),
            "approved_at": chosen["approved_at"], "strategy": chosen["strategy"], "source": source,
            "input_dataset_key": ingested["dataset_key"], "output_dataset_key": applied["output_key"],
            "rows": {"ingested": ingested["rows_in"], "quarantined": ingested["rows_quarantined"],
                     "in": applied["rows_in"], "out": applied["rows_out"]},
            "drop_reasons": {s["operator"]: s["dropped"] for s in applied["steps"] if s["dropped"]},
            "shards": applied.get("shards", 1),
            "search_score": chosen["score"], "validation": {"success": True, "checks": len(report["checks"])},
            "curated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not store.has(CURATED, key):
        with tempfile.TemporaryDirectory(prefix="autodp-hf-") as tmp:
            hf_files = hf_dataset_files(store, applied["output_key"], Path(tmp), curated_markdown(card),
                                        hf_name(applied["output_key"], recipe_name),
                                        resources.settings.dataset_license, settings=resources.settings)
            store.publish_json(CURATED, key, {DATA_CARD_FILE: card, VALIDATION_FILE: report},
                               provenance={"step": "curate", "recipe": chosen["recipe_key"], "source": source},
                               summary={"recipe": recipe_name, "rows_out": applied["rows_out"],
                                        "curated_at": card["curated_at"], "output_dataset_key": applied["output_key"]},
                               files=hf_files)
    lineage.wrote_artifact(store, CURATED, key)
    return {"curated_key": key, **card}


def last_curated(store: ArtifactStore, recipe_name: str) -> dict[str, Any] | None:
    runs = [store.manifest(CURATED, key)["summary"] for key in store.artifacts(CURATED)]
    runs = sorted((r for r in runs if r["recipe"] == recipe_name), key=lambda r: r["curated_at"])
    return runs[-1] if runs else None

