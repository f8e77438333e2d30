"""Text conventions shared by the profile (dbt) and the operators (DuckDB)."""

# Placeholder texts, compared after lower-casing and removing everything but letters and
# digits: "<No Input>" -> "noinput", "N/A" -> "na". The defect taxonomy of the cleaned
# Alpaca release lists these as the common stand-ins for "nothing".
PLACEHOLDER_TEXTS = (
    "noinput", "nooutput", "na", "none", "null", "nan", "nil", "empty", "blank",
    "notapplicable", "noanswer", "noresponse", "inputnone", "outputnone", "tbd", "todo", "xxx",
)


def placeholder_sql(column: str) -> str:
    """SQL: true when ``column`` is a non-empty placeholder."""
    texts = ", ".join(f"'{t}'" for t in PLACEHOLDER_TEXTS)
    return (f"(regexp_replace(lower({column}), '[^a-z0-9]', '', 'g') in ({texts})"
            f" and length(trim({column})) > 0)")
