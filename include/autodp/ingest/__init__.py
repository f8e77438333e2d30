"""Ingest instruction datasets into the canonical record table."""

from autodp.ingest.ingest import DATASETS, QUARANTINE_FILE, RECORDS_FILE, ingest
from autodp.ingest.rows import IngestError

__all__ = ["DATASETS", "QUARANTINE_FILE", "RECORDS_FILE", "IngestError", "ingest"]
