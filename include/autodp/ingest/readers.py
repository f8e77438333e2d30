"""Readers: one per file format, each yielding ``SourceRow``s in file order.

Readers only split and parse; deciding what a record means is the layout's job. A row a
reader cannot parse is yielded with a ``Rejection`` so that it is counted and quarantined.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from autodp.ingest.rows import (
    INVALID_UTF8,
    MALFORMED_JSON,
    NOT_AN_OBJECT,
    ORJSON_MAX_DEPTH,
    TOO_LARGE,
    WRONG_FIELD_COUNT,
    IngestError,
    Rejection,
    SourceRow,
    too_deep,
)

FORMATS = ("jsonl", "json", "parquet", "csv")
MAX_DEPTH = 1024  # orjson's nesting limit; deeper JSON is rejected as malformed
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it is gzip whatever its name, after a UTF-8 byte
    order mark if it starts with one (spreadsheet exports do)."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    handle = gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")
    try:
        if handle.read(len(UTF8_BOM)) != UTF8_BOM:
            handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    try:
        with open_binary(path) as handle:
            head = handle.read(4096).lstrip()
    except (OSError, EOFError) as error:
        raise IngestError(str(path), f"cannot read: {error}") from error
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    raise IngestError(
        str(path), "cannot tell the format (not a JSON array, JSONL, Parquet or CSV); pass --format"
    )


def read_rows(path: Path, file_format: str, max_record_bytes: int) -> Iterator[SourceRow]:
    readers = {"jsonl": _jsonl, "json": _json_array, "parquet": _parquet, "csv": _csv}
    try:
        yield from readers[file_format](path, max_record_bytes)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise IngestError(str(path), f"cannot read: {error}") from error


def _too_large(number: int, raw: bytes, limit: int) -> SourceRow:
    detail = f"record is {len(raw)} bytes, over the {limit}-byte bound"
    return SourceRow(number, raw, rejection=Rejection(TOO_LARGE, detail))


def _jsonl(path: Path, max_record_bytes: int) -> Iterator[SourceRow]:
    with open_binary(path) as handle:
        for number, line in enumerate(handle, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            if len(raw) > max_record_bytes:
                yield _too_large(number, raw, max_record_bytes)
                continue
            yield _parse_json_object(number, raw)


def _parse_json_object(number: int, raw: bytes) -> SourceRow:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return SourceRow(number, raw, rejection=_explain_bad_json(raw))
    if not isinstance(value, dict):
        kind = type(value).__name__
        return SourceRow(number, raw, rejection=Rejection(NOT_AN_OBJECT, f"a JSON {_json_kind(kind)}, not an object"))
    return SourceRow(number, raw, value)


def _explain_bad_json(raw: bytes) -> Rejection:
    """orjson refuses both bad syntax and bad text; the slower parser tells which."""
    text = raw.decode("utf-8", "surrogateescape")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return Rejection(MALFORMED_JSON, f"column {error.colno}: {error.msg}")
    except RecursionError:
        return too_deep(MAX_DEPTH)
    field = _field_with_bad_text(value)
    where = f" in field {field!r}" if field else ""
    return Rejection(INVALID_UTF8, f"text is not valid UTF-8{where}", field)


def _checked_object(number: int, raw: bytes, value: dict[str, Any]) -> SourceRow:
    """An object read with surrogateescape: rejected if any of its text was not UTF-8."""
    field = _field_with_bad_text(value)
    if field is None:
        return SourceRow(number, raw, value)
    detail = f"text is not valid UTF-8 in field {field!r}"
    return SourceRow(number, raw, rejection=Rejection(INVALID_UTF8, detail, field))


def _field_with_bad_text(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not _is_valid_text(key) or _contains_bad_text(item):
                return key
    return None


def _contains_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return not _is_valid_text(value)
    if isinstance(value, dict):
        return any(not _is_valid_text(k) or _contains_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_bad_text(v) for v in value)
    return False


def _is_valid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_kind(python_type: str) -> str:
    return {"list": "array", "str": "string", "int": "number", "float": "number",
            "bool": "boolean", "NoneType": "null"}.get(python_type, python_type)


def _json_array(path: Path, max_record_bytes: int) -> Iterator[SourceRow]:
    with open_binary(path) as handle:
        text = handle.read().decode("utf-8", "surrogateescape")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise IngestError(
            str(path), f"not valid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from error
    except RecursionError as error:
        raise IngestError(str(path), "not readable JSON: nested too deeply for the parser") from error
    if not isinstance(document, list):
        raise IngestError(str(path), f"expected a JSON array of records, found a JSON {_json_kind(type(document).__name__)}")
    for number, value in enumerate(document, start=1):
        try:
            yield _array_element(number, value, max_record_bytes)
        except RecursionError:  # the document parsed, but this element is too deep to handle
            yield SourceRow(number, b"", rejection=too_deep(MAX_DEPTH))


def _array_element(number: int, value: Any, max_record_bytes: int) -> SourceRow:
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogateescape")
    if len(raw) > max_record_bytes:
        return _too_large(number, raw, max_record_bytes)
    if not isinstance(value, dict):
        detail = f"a JSON {_json_kind(type(value).__name__)}, not an object"
        return SourceRow(number, raw, rejection=Rejection(NOT_AN_OBJECT, detail))
    return _checked_object(number, raw, value)


def _parquet(path: Path, max_record_bytes: int) -> Iterator[SourceRow]:
    with open_binary(path) as handle:  # gzip is seekable: a gzipped Parquet file reads too
        yield from _parquet_rows(path, handle, max_record_bytes)


def _parquet_rows(path: Path, handle: IO[bytes], max_record_bytes: int) -> Iterator[SourceRow]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(handle)
    except Exception as error:  # pyarrow raises ArrowInvalid and friends
        raise IngestError(str(path), f"not a readable Parquet file: {error}") from error
    number = 0
    batches = parquet.iter_batches(batch_size=8192)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as error:  # a damaged page: pyarrow's errors vary with the damage
            raise IngestError(str(path), f"not a readable Parquet file after row {number}: {error}") from error
        for index, value in enumerate(_batch_rows(batch)):
            number += 1
            if value is None:
                raw, field = _undecodable_row(batch.slice(index, 1))
                where = f" in field {field!r}" if field else " in a nested column"
                yield SourceRow(number, raw, rejection=Rejection(INVALID_UTF8, f"text is not valid UTF-8{where}", field))
                continue
            try:
                raw = orjson.dumps(value, default=str)
            except orjson.JSONEncodeError:  # a nested column deeper than orjson writes
                yield SourceRow(number, b"", rejection=too_deep(ORJSON_MAX_DEPTH))
                continue
            if len(raw) > max_record_bytes:
                yield _too_large(number, raw, max_record_bytes)
            else:
                yield SourceRow(number, raw, value)


def _batch_rows(batch) -> list[dict[str, Any] | None]:
    """The batch's rows; None for a row whose text is not valid UTF-8 (pyarrow does not check
    on read, so the whole batch fails to convert and is converted row by row)."""
    try:
        return batch.to_pylist()
    except UnicodeDecodeError:
        rows: list[dict[str, Any] | None] = []
        for i in range(batch.num_rows):
            try:
                rows.append(batch.slice(i, 1).to_pylist()[0])
            except UnicodeDecodeError:
                rows.append(None)
        return rows


def _undecodable_row(row) -> tuple[bytes, str | None]:
    """A one-row batch that does not decode: its columns as JSON with the undecodable text's
    own bytes kept (surrogateescape), and the first column at fault (None when the fault is
    inside a nested column, which is then left out)."""
    import pyarrow as pa

    value: dict[str, Any] = {}
    field = None
    for name, column in zip(row.schema.names, row.columns):
        try:
            value[name] = column.to_pylist()[0]
        except UnicodeDecodeError:
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            field = field or name
            value[name] = column.cast(pa.binary()).to_pylist()[0].decode("utf-8", "surrogateescape")
    raw = json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogateescape")
    return raw, field


def _csv(path: Path, max_record_bytes: int) -> Iterator[SourceRow]:
    csv.field_size_limit(max(max_record_bytes, 1 << 17))
    delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise IngestError(str(path), f"line 1: {error}") from error
        line_after = reader.line_num
        while True:
            first_line = line_after + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise IngestError(str(path), f"line {first_line}: {error}") from error
            line_after = reader.line_num
            if not cells:
                continue
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=delimiter).writerow(cells)
            raw = buffer.getvalue().rstrip("\r\n").encode("utf-8", "surrogateescape")
            if len(raw) > max_record_bytes:
                yield _too_large(first_line, raw, max_record_bytes)
            elif len(cells) != len(header):
                detail = f"{len(cells)} fields where the header has {len(header)}"
                yield SourceRow(first_line, raw, rejection=Rejection(WRONG_FIELD_COUNT, detail))
            else:
                yield _checked_object(first_line, raw, dict(zip(header, cells)))
