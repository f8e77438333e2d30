"""Approved recipes: published search strategies cleared for reuse.

A search's published strategy becomes a recipe only through an approval in the governance
log (``autodp.curate.decisions``), which records who approved it, when and why;
``autodp_curate`` then applies it to new data until the recipe is retired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autodp.artifacts import CURATED, RECIPE_FILE, RECIPES
from autodp.curate.decisions import DecisionRefused, Reviewer, check_can_approve, decisions, record
from autodp.curate.drift import DriftRules
from autodp.hashing import content_key
from autodp.search.published import published_result
from autodp.store import ArtifactStore


class RecipeRetired(LookupError):
    """The recipe was retired: curation refuses it."""


def approve(store: ArtifactStore, published_key: str, name: str, reviewer: Reviewer, reason: str,
            drift: DriftRules | None = None) -> dict[str, Any]:
    """Make the published search's strategy the recipe ``name``, with the drift rules its
    curate runs are checked by (``autodp.curate.drift``; the defaults when not given)."""
    if not name or not name.strip():
        raise ValueError("an approval needs the recipe's name")
    if not reason or not reason.strip():
        raise ValueError("an approval needs a reason")
    check_can_approve(store, published_key)
    card = published_result(store, published_key)["data_card"]
    recipe = {"name": name.strip(), "published_key": published_key, "strategy": card["strategy"],
              "operator_versions": card["operator_versions"], "score": card["score"],
              "found_on": card["input_dataset_key"], "approved_by": reviewer.name, "approved_via": reviewer.via,
              "reason": reason.strip(), "approved_at": datetime.now(UTC).isoformat(timespec="microseconds"),
              "drift": (drift or DriftRules()).to_dict()}
    key = content_key("recipe", "1", recipe)
    store.publish_json(RECIPES, key, {RECIPE_FILE: recipe}, provenance={"step": "approve", **recipe},
                       summary={"name": recipe["name"], "approved_at": recipe["approved_at"]})
    record(store, "approve", reviewer, reason, published_key, recipe=recipe["name"], recipe_key=key)
    return {"recipe_key": key, **recipe}


def retire(store: ArtifactStore, name: str, reviewer: Reviewer, reason: str) -> dict[str, Any]:
    current = latest_recipe(store, name)
    if current["retired"]:
        retired = current["retired"]
        raise DecisionRefused(f"recipe {name!r} is already retired (by {retired['by']} at {retired['at']})")
    return record(store, "retire", reviewer, reason, current["published_key"], recipe=name,
                  recipe_key=current["recipe_key"])


def recipes(store: ArtifactStore) -> list[dict[str, Any]]:
    """Every approval, newest first, each with the decision that retired it (or None)."""
    retired = {d["recipe_key"]: d for d in decisions(store) if d["action"] == "retire"}  # one at most
    found = [{"recipe_key": key, **store.read_json(RECIPES, key, RECIPE_FILE)} for key in store.artifacts(RECIPES)]
    for entry in found:
        entry["retired"] = retired.get(entry["recipe_key"])
    return sorted(found, key=lambda r: (r["approved_at"], r["recipe_key"]), reverse=True)


def latest_recipe(store: ArtifactStore, name: str) -> dict[str, Any]:
    """The latest approval under ``name``, retired or not."""
    named = [r for r in recipes(store) if r["name"] == name]
    if not named:
        raise LookupError(f"no approved recipe named {name!r}; approve one with `autodp recipe approve` "
                          "or on the review page")
    return named[0]


def recipe(store: ArtifactStore, name: str) -> dict[str, Any]:
    """The recipe curation applies under ``name``: its latest approval, unless retired."""
    current = latest_recipe(store, name)
    if retired := current["retired"]:
        raise RecipeRetired(f"recipe {name!r} was retired by {retired['by']} ({retired['via']}) at "
                            f"{retired['at']}: {retired['reason']}. Approve a search again to curate with it.")
    return current


def last_curated(store: ArtifactStore, recipe_name: str) -> dict[str, Any] | None:
    """The summary of the recipe's latest curated run (None before the first)."""
    runs = [{"curated_key": key, **store.manifest(CURATED, key)["summary"]} for key in store.artifacts(CURATED)]
    runs = sorted((r for r in runs if r["recipe"] == recipe_name), key=lambda r: r["curated_at"])
    return runs[-1] if runs else None

