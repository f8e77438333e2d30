"""Approved recipes: published search strategies cleared for reuse.

A search's published strategy becomes a recipe only through an approval, which records
who approved it, when and why; ``autodp_curate`` then applies it to new data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autodp.artifacts import RECIPE_FILE, RECIPES
from autodp.hashing import content_key
from autodp.search.loop import published_result
from autodp.store import ArtifactStore


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
