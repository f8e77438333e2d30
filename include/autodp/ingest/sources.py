"""Where a DAG run may read its data from. A trigger form's path is typed by whoever may
trigger the DAG and read on a worker, so with ``AUTODP_SOURCE_ROOTS`` set (directories and
``s3://bucket/prefix`` roots, separated by commas) a source outside every root is refused:
``..`` and symlinks are resolved first, ``file://`` URLs are paths like any other, and no
other scheme is read. Unset, any path the worker can read is allowed (the embedded default).
The CLI reads what its user names, as any command does.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOTS_VARIABLE = "AUTODP_SOURCE_ROOTS"


class SourceRefused(ValueError):
    """A source outside every allowed root."""


def allowed_roots() -> list[str]:
    return [root.strip() for root in os.environ.get(ROOTS_VARIABLE, "").split(",") if root.strip()]


def allowed_source(source: str, field: str = "source", roots: list[str] | None = None) -> str:
    """``source`` as the location to read (a resolved local path or the ``s3://`` URL), or
    ``SourceRefused`` naming the Param ``field``."""
    roots = allowed_roots() if roots is None else roots
    parsed = urlparse(source)
    if parsed.scheme == "s3":
        if not parsed.netloc or ".." in parsed.path.split("/"):
            raise SourceRefused(f"{field}: {source!r} is not a plain s3://bucket/key URL")
        if roots and not any(_under_s3(source, root) for root in roots if root.startswith("s3://")):
            raise SourceRefused(f"{field}: {source!r} is outside the allowed roots ({ROOTS_VARIABLE})")
        return source
    if parsed.scheme not in ("", "file"):
        raise SourceRefused(f"{field}: {source!r}: only local paths, file:// and s3:// URLs are read")
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise SourceRefused(f"{field}: {source!r}: a file:// URL names no other host")
    path = Path(unquote(parsed.path) if parsed.scheme == "file" else source).expanduser()
    if not roots:
        return str(path)
    resolved = path.resolve()  # follows every symlink and "..", so the real location is checked
    for root in roots:
        if root.startswith("s3://"):
            continue
        base = Path(root).expanduser().resolve()
        if resolved == base or base in resolved.parents:
            return str(resolved)
    raise SourceRefused(f"{field}: {source!r} resolves to {resolved}, outside the allowed roots ({ROOTS_VARIABLE})")


def _under_s3(source: str, root: str) -> bool:
    root = root.rstrip("/") + "/"
    return source.startswith(root)
