"""The embedded default: artifacts in a local directory."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autodp.hashing import file_sha256
from autodp.store.base import ArtifactStore, StoreError

STAGING_PREFIX = ".tmp-"
# A staged file this old belongs to a writer that was killed (a live one renames or links it
# within the copy of one file), so the next write into its folder removes it.
STALE_STAGING_SECONDS = 6 * 3600


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
        with self._staged(path) as (tmp, target):
            tmp.write_bytes(data)
            _sync(tmp)
            os.replace(tmp, target)

    def create(self, local_path: Path, path: str) -> bool:
        with self._staged(path) as (tmp, target):
            shutil.copyfile(local_path, tmp)
            _sync(tmp)
            try:
                os.link(tmp, target)  # atomic, and refuses an existing target
            except FileExistsError:
                return False
            return True

    def digest(self, path: str) -> tuple[int, str]:
        full = self._full(path)
        return full.stat().st_size, file_sha256(full)

    @contextmanager
    def _staged(self, path: str) -> Iterator[tuple[Path, Path]]:
        """A temporary file beside ``path``'s target, removed whatever happens; a failed
        write (disk full, no permission) becomes a StoreError naming the store."""
        target = self._full(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=STAGING_PREFIX)
            os.close(fd)
            _remove_stale_staging(target.parent)
        except OSError as error:
            raise StoreError(f"cannot write {path} in store {self.uri}: {error.strerror or error}") from error
        tmp = Path(name)
        try:
            yield tmp, target
        except OSError as error:
            raise StoreError(f"cannot write {path} in store {self.uri}: {error.strerror or error}") from error
        finally:
            tmp.unlink(missing_ok=True)

    def download(self, path: str, local_path: Path) -> None:
        shutil.copyfile(self._full(path), local_path)

    def list(self, prefix: str) -> list[str]:
        base = self._full(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.exists():
            return []
        found = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(STAGING_PREFIX))
        return sorted(str(p.relative_to(self.root)) for p in found)

    def location(self, path: str) -> str:
        return str(self._full(path))


def _remove_stale_staging(folder: Path) -> None:
    cutoff = time.time() - STALE_STAGING_SECONDS
    for leftover in folder.glob(STAGING_PREFIX + "*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except FileNotFoundError:  # another writer removed it first
            pass


def _sync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
