"""The embedded default: artifacts in a local directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from autodp.store.base import ArtifactStore


class LocalStore(ArtifactStore):
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _full(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if full != self.root and self.root not in full.parents:
            raise ValueError(f"path {path!r} leaves the store root {self.root}")
        return full

    def exists(self, path: str) -> bool:
        return self._full(path).is_file()

    def read_bytes(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def write_bytes(self, path: str, data: bytes) -> None:
        target = self._full(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def upload(self, local_path: Path, path: str) -> None:
        target = self._full(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(local_path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def download(self, path: str, local_path: Path) -> None:
        shutil.copyfile(self._full(path), local_path)

    def list(self, prefix: str) -> list[str]:
        base = self._full(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.exists():
            return []
        found = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return sorted(str(p.relative_to(self.root)) for p in found)

    def location(self, path: str) -> str:
        return str(self._full(path))
