"""Recurring curation: the governance log (``decisions``), approved recipes
(``recipes``), output validation (``validation``), and applying a recipe to new data
(``curation``)."""

from autodp.curate.curation import ValidationFailed, curate, last_curated
from autodp.curate.decisions import DecisionRefused, Reviewer, decisions, reject, review_status
from autodp.curate.recipes import RecipeRetired, approve, latest_recipe, recipe, recipes, retire
from autodp.curate.validation import ValidationRules

__all__ = ["DecisionRefused", "RecipeRetired", "Reviewer", "ValidationFailed", "ValidationRules", "approve",
           "curate", "decisions", "last_curated", "latest_recipe", "recipe", "recipes", "reject", "retire",
           "review_status"]
