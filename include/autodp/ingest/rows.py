"""What readers hand to the ingest loop: one source row, parsed or rejected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class IngestError(Exception):
    """A source that cannot be read at all; nothing is written."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str
    field: str | None = None


@dataclass(frozen=True)
class SourceRow:
    """``number`` is the 1-based line (JSONL, CSV) or element/row (JSON array, Parquet)."""

    number: int
    raw: bytes
    value: dict[str, Any] | None = None
    rejection: Rejection | None = None


DEFAULT_MAX_RECORD_BYTES = 1 << 20
ORJSON_MAX_DEPTH = 255  # the deepest nesting orjson writes

# Quarantine reasons, one code each.
MALFORMED_JSON = "malformed_json"
NOT_AN_OBJECT = "not_an_object"
INVALID_UTF8 = "invalid_utf8"
MISSING_FIELD = "missing_field"
WRONG_TYPE = "wrong_type"
TOO_LARGE = "too_large"  # larger than max_record_bytes
BAD_CONVERSATION = "bad_conversation"
WRONG_FIELD_COUNT = "wrong_field_count"


def too_deep(levels: int) -> Rejection:
    """A record nested deeper than a parser or writer handles."""
    return Rejection(MALFORMED_JSON, f"nested deeper than {levels} levels")
