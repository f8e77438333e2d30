"""Recurring curation: the governance log (``decisions``), approved recipes (``recipes``),
output validation (``validation``), drift against the approved search (``drift``), and
applying a recipe to new data: one configuration (``config``), typed state (``state``) and
the steps of the ``autodp_curate`` DAG (``loop``)."""

from autodp.curate.config import CurateConfig
from autodp.curate.decisions import DecisionRefused, Reviewer, decisions, reject, review_status
from autodp.curate.drift import DriftFailed, DriftRules
from autodp.curate.loop import curate
from autodp.curate.recipes import (
    RecipeRetired,
    approve,
    last_curated,
    latest_recipe,
    recipe,
    recipes,
    retire,
)
from autodp.curate.validation import ValidationFailed, ValidationRules

__all__ = ["CurateConfig", "DecisionRefused", "DriftFailed", "DriftRules", "RecipeRetired", "Reviewer",
           "ValidationFailed", "ValidationRules", "approve", "curate", "decisions", "last_curated",
           "latest_recipe", "recipe", "recipes", "reject", "retire", "review_status"]
