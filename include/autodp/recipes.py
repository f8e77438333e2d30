"""Approved recipes, and curation: applying one to new data.

A search's published strategy becomes a recipe only through ``autodp recipe approve``,
which records who approved it, when and why. ``curate`` ingests new data, applies the
recipe, validates the output (``autodp.validation``) and publishes it with its data card
and validation report; a failed validation raises ``ValidationFailed`` with the readable
report and publishes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autodp.executor import apply_strategy
from autodp.hashing import content_key
from autodp.ingest import ingest
from autodp.operators.resources import Resources
from autodp.search import published_result
from autodp.store import ArtifactStore
from autodp.strategy import Strategy
from autodp.validation import ValidationRules, report_text, validate

RECIPES = "recipes"
CURATED = "curated"
RECIPE_FILE = "recipe.json"


class ValidationFailed(RuntimeError):
    """The curated output failed validation; nothing was published."""

    def __init__(self, report: dict[str, Any]):
        super().__init__(report_text(report))
        self.report = report


def approve(store: ArtifactStore, published_key: str, name: str, approved_by: str, reason: str) -> dict[str, Any]:
    if not approved_by.strip() or not reason.strip():
        raise ValueError("an approval needs who approves it and why")
    card = published_result(store, published_key)["data_card"]
    recipe = {"name": name, "published_key": published_key, "strategy": card["strategy"],
              "operator_versions": card["operator_versions"], "score": card["score"],
              "found_on": card["input_dataset_key"], "approved_by": approved_by, "reason": reason,
              "approved_at": datetime.now(UTC).isoformat(timespec="seconds")}
    key = content_key("recipe", "1", recipe)
    store.publish_json(RECIPES, key, {RECIPE_FILE: recipe}, provenance={"step": "approve", **recipe},
                       summary={"name": name, "approved_at": recipe["approved_at"]})
    return {"recipe_key": key, **recipe}


def recipe(store: ArtifactStore, name: str) -> dict[str, Any]:
    """The latest approval under ``name``."""
    approvals = [(store.manifest(RECIPES, key)["summary"], key) for key in store.artifacts(RECIPES)]
    named = sorted((summary["approved_at"], key) for summary, key in approvals if summary["name"] == name)
    if not named:
        raise LookupError(f"no approved recipe named {name!r}; approve one with `autodp recipe approve`")
    key = named[-1][1]
    return {"recipe_key": key, **store.read_json(RECIPES, key, RECIPE_FILE)}


def curate(store: ArtifactStore, source: str, recipe_name: str, rules: ValidationRules | None = None,
           resources: Resources | None = None, **ingest_options: Any) -> dict[str, Any]:
    resources = resources or Resources()
    chosen = recipe(store, recipe_name)
    ingested = ingest(source, store, **ingest_options)
    applied = apply_strategy(ingested["dataset_key"], Strategy.from_data(chosen["strategy"]), store, resources)
    previous = last_curated(store, recipe_name)
    report = validate(store, applied["output_key"], rules, previous["rows_out"] if previous else None,
                      resources.settings)
    if not report["success"]:
        raise ValidationFailed(report)
    key = content_key("curated", "1", {"recipe": chosen["recipe_key"], "output": applied["output_key"]})
    card = {"recipe": recipe_name, "recipe_key": chosen["recipe_key"], "approved_by": chosen["approved_by"],
            "approved_at": chosen["approved_at"], "strategy": chosen["strategy"], "source": source,
            "input_dataset_key": ingested["dataset_key"], "output_dataset_key": applied["output_key"],
            "rows": {"ingested": ingested["rows_in"], "quarantined": ingested["rows_quarantined"],
                     "in": applied["rows_in"], "out": applied["rows_out"]},
            "drop_reasons": {s["operator"]: s["dropped"] for s in applied["steps"] if s["dropped"]},
            "search_score": chosen["score"], "validation": {"success": True, "checks": len(report["checks"])},
            "curated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    store.publish_json(CURATED, key, {"data_card.json": card, "validation.json": report},
                       provenance={"step": "curate", "recipe": chosen["recipe_key"], "source": source},
                       summary={"recipe": recipe_name, "rows_out": applied["rows_out"],
                                "curated_at": card["curated_at"], "output_dataset_key": applied["output_key"]})
    return {"curated_key": key, **card}


def last_curated(store: ArtifactStore, recipe_name: str) -> dict[str, Any] | None:
    runs = [store.manifest(CURATED, key)["summary"] for key in store.artifacts(CURATED)]
    runs = sorted((r for r in runs if r["recipe"] == recipe_name), key=lambda r: r["curated_at"])
    return runs[-1] if runs else None

