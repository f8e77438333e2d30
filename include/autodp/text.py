"""Text conventions shared by the profile (dbt), the operators (DuckDB) and the models:
what counts as blank or a placeholder, and how a record reads as a prompt."""

from __future__ import annotations

from typing import Any

# Placeholder texts, compared after lower-casing and removing everything but letters and
# digits: "<No Input>" -> "noinput", "N/A" -> "na". The defect taxonomy of the cleaned
# Alpaca release lists these as the common stand-ins for "nothing".
PLACEHOLDER_TEXTS = (
    "noinput", "nooutput", "na", "none", "null", "nan", "nil", "empty", "blank",
    "notapplicable", "noanswer", "noresponse", "inputnone", "outputnone", "tbd", "todo", "xxx",
)


PLACEHOLDER_MAX_CHARS = 32


def blank_sql(column: str) -> str:
    """SQL: true when ``column`` is empty or whitespace. Stops at the first visible
    character, where trim() would copy the whole text."""
    return f"(not regexp_matches({column}, '\\S'))"


def placeholder_sql(column: str) -> str:
    """SQL: true when ``column`` is a non-empty placeholder. The regular expression reads
    at most a short prefix, so it stays cheap on long texts whatever order DuckDB
    evaluates the conditions in."""
    texts = ", ".join(f"'{t}'" for t in PLACEHOLDER_TEXTS)
    head = f"left({column}, {PLACEHOLDER_MAX_CHARS + 1})"
    return (f"(length({column}) <= {PLACEHOLDER_MAX_CHARS} "
            f"and regexp_replace(lower({head}), '[^a-z0-9]', '', 'g') in ({texts}))")


def letters_and_digits_sql(column: str) -> str:
    """SQL: ``column`` lower-cased, with only its letters and digits (any script): what is
    left unchanged by a rewrite of whitespace, case or punctuation alone."""
    return f"regexp_replace(lower({column}), '[^\\p{{L}}\\p{{N}}]', '', 'g')"


def prompt_text(row: dict[str, Any]) -> str:
    """The instruction as the model sees it: the input, when there is one, follows it."""
    if row.get("input"):
        return f"{row['instruction']}\n\n{row['input']}"
    return row["instruction"]
