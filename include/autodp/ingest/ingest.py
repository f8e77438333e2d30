"""Ingest: any supported source file -> the canonical record table + a quarantine table.

Every source row ends in exactly one of the two tables: rows_in = rows_kept +
rows_quarantined. The dataset key is a hash of the source bytes and the options that
shape the result (not of the path), so ingesting the same bytes the same way again, from
anywhere, finds the stored dataset.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from autodp import fields as F
from autodp.artifacts import DATASETS, QUARANTINE_FILE, RECORDS_FILE
from autodp.hashing import content_key, file_sha256, record_id
from autodp.ingest.layouts import LAYOUTS, Canonical, detect_layout, parse_mapping, to_canonical
from autodp.ingest.readers import FORMATS, detect_format, read_rows
from autodp.ingest.rows import (
    DEFAULT_MAX_RECORD_BYTES,
    ORJSON_MAX_DEPTH,
    IngestError,
    SourceRow,
    too_deep,
)
from autodp.store import ArtifactStore, lineage

INGEST_VERSION = "3"
BATCH_ROWS = 8192

RECORDS_SCHEMA = pa.schema(
    [
        (F.RECORD_ID, pa.string()),
        (F.INSTRUCTION, pa.string()),
        (F.INPUT, pa.string()),
        (F.OUTPUT, pa.string()),
        (F.METADATA, pa.string()),
        (F.SOURCE_ROW, pa.int64()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        (F.SOURCE_ROW, pa.int64()),
        (F.FIELD, pa.string()),
        (F.REASON, pa.string()),
        (F.DETAIL, pa.string()),
        (F.RAW, pa.binary()),
    ]
)


def ingest(
    source: str,
    store: ArtifactStore,
    *,
    file_format: str = "auto",
    layout: str = "auto",
    mapping: list[str] | dict[str, str] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> dict[str, Any]:
    """Ingest ``source`` into ``store``; return the dataset's summary (with ``dataset_key``).

    Raises ``IngestError`` (nothing written) when the source cannot be read at all, and
    ``ValueError`` for options that contradict each other.
    """
    field_map = parse_mapping(mapping)
    if layout not in ("auto", *LAYOUTS):
        raise ValueError(f"layout {layout!r}: expected auto or one of {', '.join(LAYOUTS)}")
    if file_format not in ("auto", *FORMATS):
        raise ValueError(f"format {file_format!r}: expected auto or one of {', '.join(FORMATS)}")
    if layout == "mapped" and not field_map:
        raise ValueError("layout 'mapped' needs --map FIELD=COLUMN for instruction and output")
    if field_map and layout == "auto":
        layout = "mapped"

    with _local_copy(source) as path:
        if file_format == "auto":
            file_format = detect_format(path)
        if layout == "auto":
            layout = _detect_layout(path, file_format)
        shaping = {
            "source_sha256": file_sha256(path),
            "format": file_format,
            "layout": layout,
            "mapping": field_map,
            "max_record_bytes": max_record_bytes,
        }
        key = content_key("ingest", INGEST_VERSION, shaping)
        lineage.read_source(source)
        if store.has(DATASETS, key):
            lineage.wrote_artifact(store, DATASETS, key)
            return {**store.manifest(DATASETS, key)["summary"], "cached": True}
        with tempfile.TemporaryDirectory(prefix="autodp-ingest-") as tmp:
            records, quarantine = Path(tmp) / RECORDS_FILE, Path(tmp) / QUARANTINE_FILE
            counts = _write_tables(read_rows(path, file_format, max_record_bytes), layout, field_map, records, quarantine)
            if counts["rows_in"] == 0:
                raise IngestError(source, "no records found")
            summary = {"dataset_key": key, **counts, "format": file_format, "layout": layout}
            store.publish(DATASETS, key, {RECORDS_FILE: records, QUARANTINE_FILE: quarantine},
                          provenance={"step": "ingest", "version": INGEST_VERSION, "source": source, **shaping},
                          summary=summary)
    lineage.wrote_artifact(store, DATASETS, key)
    return {**summary, "cached": False}


def _write_tables(
    rows: Iterator[SourceRow], layout: str, mapping: dict[str, str], records: Path, quarantine: Path
) -> dict[str, Any]:
    reasons: Counter[str] = Counter()
    kept_rows = 0
    with pq.ParquetWriter(records, RECORDS_SCHEMA) as kept_writer, \
            pq.ParquetWriter(quarantine, QUARANTINE_SCHEMA) as bad_writer:
        kept: dict[str, list] = {name: [] for name in RECORDS_SCHEMA.names}
        bad: dict[str, list] = {name: [] for name in QUARANTINE_SCHEMA.names}
        for row in rows:
            outcome = row.rejection or to_canonical(row.value, layout, mapping)
            if isinstance(outcome, Canonical):
                try:
                    metadata = orjson.dumps(outcome.metadata, default=str).decode()
                except orjson.JSONEncodeError:  # deeper than orjson writes
                    outcome = too_deep(ORJSON_MAX_DEPTH)
            if isinstance(outcome, Canonical):
                _append_record(kept, row.number, outcome, metadata)
                kept_rows += 1
            else:
                for name, item in zip(QUARANTINE_SCHEMA.names, (row.number, _text(outcome.field), outcome.reason,
                                                                _text(outcome.detail), row.raw)):
                    bad[name].append(item)
                reasons[outcome.reason] += 1
            if len(kept[F.SOURCE_ROW]) >= BATCH_ROWS:
                _flush(kept_writer, kept, RECORDS_SCHEMA)
            if len(bad[F.SOURCE_ROW]) >= BATCH_ROWS:
                _flush(bad_writer, bad, QUARANTINE_SCHEMA)
        _flush(kept_writer, kept, RECORDS_SCHEMA)
        _flush(bad_writer, bad, QUARANTINE_SCHEMA)
    quarantined = sum(reasons.values())
    return {
        "rows_in": kept_rows + quarantined,
        "rows_kept": kept_rows,
        "rows_quarantined": quarantined,
        "quarantine_reasons": dict(sorted(reasons.items())),
    }


def _text(value: str | None) -> str | None:
    """A field name or detail as valid UTF-8: bytes that were not (read with surrogateescape)
    become U+FFFD; the raw bytes are kept beside it."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if value is not None else None


def _append_record(columns: dict[str, list], number: int, record: Canonical, metadata: str) -> None:
    columns[F.RECORD_ID].append(record_id(record.instruction, record.input, record.output))
    columns[F.INSTRUCTION].append(record.instruction)
    columns[F.INPUT].append(record.input)
    columns[F.OUTPUT].append(record.output)
    columns[F.METADATA].append(metadata)
    columns[F.SOURCE_ROW].append(number)


def _flush(writer: pq.ParquetWriter, columns: dict[str, list], schema: pa.Schema) -> None:
    if columns[F.SOURCE_ROW] or writer.schema is None:
        writer.write_table(pa.Table.from_pydict(columns, schema=schema))
    for values in columns.values():
        values.clear()


def _detect_layout(path: Path, file_format: str) -> str:
    """The layout of the first parseable object, whatever its size."""
    for row in read_rows(path, file_format, max_record_bytes=sys.maxsize):
        if row.value is not None:
            found = detect_layout(row.value)
            if found is None:
                names = ", ".join(sorted(row.value)[:12])
                raise IngestError(
                    str(path),
                    f"cannot tell the layout: the first record has fields [{names}]; "
                    "pass --layout, or --map instruction=COLUMN --map output=COLUMN",
                )
            return found
    raise IngestError(str(path), "no readable record to tell the layout from; pass --layout")


@contextmanager
def _local_copy(source: str) -> Iterator[Path]:
    """A local path for the source; ``s3://`` sources are downloaded first."""
    parsed = urlparse(source)
    if parsed.scheme == "s3":
        import boto3

        with tempfile.TemporaryDirectory(prefix="autodp-source-") as tmp:
            local = Path(tmp) / Path(parsed.path).name
            try:
                boto3.client("s3").download_file(parsed.netloc, parsed.path.lstrip("/"), str(local))
            except Exception as error:
                raise IngestError(source, f"cannot download: {error}") from error
            yield local
        return
    path = Path(parsed.path if parsed.scheme == "file" else source).expanduser()
    if not path.is_file():
        raise IngestError(source, "no such file" if not path.exists() else "not a regular file")
    yield path
