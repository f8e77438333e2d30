"""Recurring curation: approved recipes (``recipes``), output validation
(``validation``), and applying a recipe to new data (``curation``)."""

from autodp.curate.curation import ValidationFailed, curate, last_curated
from autodp.curate.recipes import approve, recipe
from autodp.curate.validation import ValidationRules

__all__ = ["ValidationFailed", "ValidationRules", "approve", "curate", "last_curated", "recipe"]
