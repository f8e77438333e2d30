"""One artifact store interface; backends differ only in how bytes move.

An artifact is a folder ``<kind>/<key>/`` of files plus ``manifest.json``. The manifest is
written last, so an artifact exists exactly when its manifest does: a crashed or retried
writer leaves no half-published artifact, and a finished one is never written again.

Publishing never overwrites: each file and then the manifest is created only if absent
(a hard link locally, ``If-None-Match: *`` on S3). A file an earlier, killed writer left
is kept and listed with the digest of the bytes the store holds, and when two writers
publish one key at once the first manifest wins and the other returns it, so a manifest
always describes exactly the bytes under it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autodp.hashing import file_sha256

MANIFEST = "manifest.json"
log = logging.getLogger(__name__)


class StoreError(Exception):
    """A store that cannot be written or read (out of space, refused credentials, no
    server): the message names the store and the path."""


class ArtifactNotFound(KeyError):
    """No published artifact under that kind and key."""

    def __str__(self) -> str:
        return str(self.args[0])


class ArtifactStore(ABC):
    """Bytes under relative paths, plus manifest-published artifacts on top of them."""

    uri: str

    @abstractmethod
    def exists(self, path: str) -> bool: ...

    @abstractmethod
    def read_bytes(self, path: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Write atomically: readers see the old state or the whole new file."""

    @abstractmethod
    def create(self, local_path: Path, path: str) -> bool:
        """Copy a local file in only if nothing is at ``path`` yet, atomically; False when
        something already was (that file is left as it is)."""

    @abstractmethod
    def digest(self, path: str) -> tuple[int, str]:
        """Size and SHA-256 (hex) of the bytes stored at ``path``."""

    @abstractmethod
    def download(self, path: str, local_path: Path) -> None: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """Relative paths under a prefix, sorted."""

    @abstractmethod
    def location(self, path: str) -> str:
        """Where DuckDB reads the file: a local path or an ``s3://`` URL."""

    def duckdb_secret(self) -> dict[str, str] | None:
        """The DuckDB secret (``CREATE SECRET`` options) needed to read ``location()``."""
        return None

    # Artifacts ---------------------------------------------------------------------------

    @staticmethod
    def artifact_path(kind: str, key: str, name: str = "") -> str:
        return f"{kind}/{key}/{name}" if name else f"{kind}/{key}"

    def has(self, kind: str, key: str) -> bool:
        return self.exists(self.artifact_path(kind, key, MANIFEST))

    def manifest(self, kind: str, key: str) -> dict[str, Any]:
        path = self.artifact_path(kind, key, MANIFEST)
        if not self.exists(path):
            raise ArtifactNotFound(f"no {kind} artifact {key!r} in store {self.uri}")
        return json.loads(self.read_bytes(path))

    def file_location(self, kind: str, key: str, name: str) -> str:
        return self.location(self.artifact_path(kind, key, name))

    def publish(
        self,
        kind: str,
        key: str,
        files: dict[str, Path],
        provenance: dict[str, Any],
        summary: dict[str, Any],
    ) -> dict[str, Any]:
        """Create ``files`` then the manifest; an artifact already published is kept as is."""
        if self.has(kind, key):
            return self.manifest(kind, key)
        listed = {}
        for name, local in sorted(files.items()):
            path = self.artifact_path(kind, key, name)
            size, sha256 = local.stat().st_size, file_sha256(local)
            if not self.create(local, path):
                stored = self.digest(path)
                if stored != (size, sha256):
                    log.warning("%s in %s was written by another run with other bytes; keeping the stored file",
                                path, self.uri)
                size, sha256 = stored
            listed[name] = {"bytes": size, "sha256": sha256}
        manifest = {
            "kind": kind,
            "key": key,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "provenance": provenance,
            "files": listed,
            "summary": summary,
        }
        body = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
        with tempfile.TemporaryDirectory(prefix="autodp-manifest-") as tmp:
            local = Path(tmp) / MANIFEST
            local.write_bytes(body.encode("utf-8"))
            if not self.create(local, self.artifact_path(kind, key, MANIFEST)):
                return self.manifest(kind, key)  # another writer published this key first
        return manifest

    def publish_json(self, kind: str, key: str, documents: dict[str, Any], provenance: dict[str, Any],
                     summary: dict[str, Any], files: dict[str, Path] | None = None) -> dict[str, Any]:
        """``publish`` for small documents: each value is written as JSON (a ``str`` as is),
        beside ``files`` when given."""
        with tempfile.TemporaryDirectory(prefix="autodp-documents-") as tmp:
            files = dict(files or {})
            for name, document in documents.items():
                files[name] = Path(tmp) / name
                text = document if isinstance(document, str) else json.dumps(document, indent=2, sort_keys=True)
                files[name].write_text(text, encoding="utf-8")
            return self.publish(kind, key, files, provenance=provenance, summary=summary)

    def read_json(self, kind: str, key: str, name: str) -> Any:
        return json.loads(self.read_bytes(self.artifact_path(kind, key, name)))

    def artifacts(self, kind: str) -> list[str]:
        """Keys of the published artifacts of one kind."""
        suffix = "/" + MANIFEST
        return sorted(
            p[len(kind) + 1 : -len(suffix)] for p in self.list(kind + "/") if p.endswith(suffix)
        )

