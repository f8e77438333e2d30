"""Content keys: every artifact is named by a hash of what it was made from."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from pathlib import Path
from typing import Any

KEY_CHARS = 32  # 128 bits of sha256, hex


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
    """The form a text is hashed in: NFC, Unix newlines, no surrounding whitespace."""
    text = unicodedata.normalize("NFC", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def record_id(instruction: str, input_: str, output: str) -> str:
    """Stable id of a record's content; exact duplicates share it."""
    payload = "\x1f".join(normalize_text(t) for t in (instruction, input_, output))
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:KEY_CHARS]
