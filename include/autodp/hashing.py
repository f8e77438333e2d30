"""Content keys: every artifact is named by a hash of what it was made from."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

KEY_CHARS = 32  # 128 bits of sha256, hex
STRIP_CHARS = " \t\n\r\f\v"  # what normalize_text strips; record_id_sql strips the same
STRIP_SQL = "' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_key(step: str, version: str, inputs: dict[str, Any]) -> str:
    """Key of a step's output: its name, code version and canonical inputs."""
    payload = canonical_json({"step": step, "version": version, "inputs": inputs})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:KEY_CHARS]


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def normalize_text(text: str) -> str:
    """The form a text is hashed in: no NUL characters, NFC, Unix newlines, no surrounding
    ASCII whitespace."""
    text = unicodedata.normalize("NFC", text.replace("\x00", ""))
    return text.replace("\r\n", "\n").replace("\r", "\n").strip(STRIP_CHARS)


def record_id(instruction: str, input_: str, output: str) -> str:
    """Stable id of a record's content; exact duplicates share it."""
    payload = "\x1f".join(normalize_text(t) for t in (instruction, input_, output))
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:KEY_CHARS]


def record_id_sql(instruction: str, input_: str, output: str) -> str:
    """The same id computed by DuckDB, over SQL expressions. Each normalisation step runs
    only on texts that need it (each would copy the whole text)."""
    def normalized(column: str) -> str:
        text = f"case when contains({column}, chr(0)) then replace({column}, chr(0), '') else {column} end"
        text = f"nfc_normalize({text})"  # DuckDB's NFC stops at a NUL, hence the step before
        text = (f"case when contains({text}, chr(13)) then replace(replace({text}, chr(13) || chr(10), chr(10)), "
                f"chr(13), chr(10)) else {text} end")
        edges = "'^[ \\t\\n\\x0b\\f\\r]|[ \\t\\n\\x0b\\f\\r]$'"
        return f"case when regexp_matches({text}, {edges}) then trim({text}, {STRIP_SQL}) else {text} end"
    joined = f"concat_ws(chr(31), {normalized(instruction)}, {normalized(input_)}, {normalized(output)})"
    return f"left(sha256({joined}), {KEY_CHARS})"
