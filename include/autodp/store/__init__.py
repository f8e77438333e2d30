"""Artifact stores: a local directory (embedded default) or S3."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from autodp.store.base import ArtifactNotFound, ArtifactStore, StoreError
from autodp.store.local import LocalStore

__all__ = ["ArtifactNotFound", "ArtifactStore", "LocalStore", "StoreError", "open_store"]


def open_store(uri: str, **s3_options: str | None) -> ArtifactStore:
    """``s3://bucket/prefix`` opens S3 (endpoint and credentials from ``s3_options``, else
    boto3's usual environment: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...); anything
    else is a local directory."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        from autodp.store.s3 import S3Store

        if not parsed.netloc:
            raise ValueError(f"store URI {uri!r} names no bucket (expected s3://bucket/prefix)")
        return S3Store(parsed.netloc, parsed.path, **s3_options)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"store URI {uri!r}: unsupported scheme {parsed.scheme!r}")
    return LocalStore(parsed.path if parsed.scheme == "file" else os.path.expanduser(uri))
