"""Ingest instruction datasets into the canonical record table."""

from autodp.ingest.ingest import ingest
from autodp.ingest.rows import IngestError

__all__ = ["IngestError", "ingest"]
