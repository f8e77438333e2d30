"""A dataset as a Hugging Face dataset folder: Parquet shards under ``data/``
(``train-00000-of-00003.parquet``) and a ``README.md`` whose YAML header is the dataset card
Hugging Face expects (license, task categories, size category, ``configs``/``data_files`` and
the features) above a body rendered from autodp's data card. ``datasets.load_dataset(<folder>)``
reads it; the published and curated artifacts in the store hold such folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine

HF_CARD_FILE = "README.md"
HF_DATA_DIR = "data"
HF_SHARD_ROWS = 250_000  # rows per Parquet shard: files of tens of MB for typical instruction data
BATCH_ROWS = 8_192
# The training text first, then autodp's own columns; their meaning goes into every card.
HF_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("instruction", "string", "the task or question"),
    ("input", "string", "context for the instruction (empty when there is none)"),
    ("output", "string", "the response to learn"),
    ("record_id", "string", "the first 32 hex digits of the SHA-256 of the normalized instruction, input and output "
                            "(exact duplicates share it)"),
    ("source_row", "int64", "the record's row in the ingested source (generated records: past the last row)"),
    ("metadata", "string", "JSON: the source's other fields (and, for conversations, `system` and `history`)"),
)
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))



def hf_name(dataset_key: str, what: str = "published dataset") -> str:
    """The ``pretty_name`` of a dataset's card."""
    return f"autodp {what} {dataset_key[:12]}"


def size_category(rows: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), "n>1T")


def hf_dataset_files(store: ArtifactStore, dataset_key: str, folder: Path, body: str, pretty_name: str,
                     license: str = "unknown", shard_rows: int = HF_SHARD_ROWS,
                     settings: Settings | None = None) -> dict[str, Path]:
    """Write dataset ``dataset_key`` as a Hugging Face dataset into ``folder``; return its
    files by the relative names they take in an artifact (``README.md``, ``data/...``)."""
    shards = _write_shards(store, dataset_key, folder / HF_DATA_DIR, shard_rows, settings)
    rows = sum(count for _, count in shards)
    files = {f"{HF_DATA_DIR}/{path.name}": path for path, _ in shards}
    card = folder / HF_CARD_FILE
    card.write_text(hf_card(body, pretty_name, rows, sum(p.stat().st_size for p, _ in shards), license),
                    encoding="utf-8")
    return {HF_CARD_FILE: card, **files}


def hf_card(body: str, pretty_name: str, rows: int, num_bytes: int, license: str) -> str:
    header = {
        "pretty_name": pretty_name,
        "license": license,
        "task_categories": ["text-generation"],
        "tags": ["instruction-tuning", "autodp"],
        "size_categories": [size_category(rows)],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": f"{HF_DATA_DIR}/train-*"}]}],
        "dataset_info": {
            "features": [{"name": name, "dtype": dtype} for name, dtype, _ in HF_COLUMNS],
            "splits": [{"name": "train", "num_bytes": num_bytes, "num_examples": rows}],
        },
    }
    columns = "\n".join(f"| `{name}` | {dtype} | {meaning} |" for name, dtype, meaning in HF_COLUMNS)
    return (f"---\n{yaml.safe_dump(header, sort_keys=False, allow_unicode=True)}---\n\n{body.rstrip()}\n\n"
            f"## Columns\n\n| column | type | meaning |\n|---|---|---|\n{columns}\n\n"
            "Load it with `datasets.load_dataset(\"<this folder>\")`, or read the Parquet files under "
            f"`{HF_DATA_DIR}/` with any Parquet reader.\n")


def _write_shards(store: ArtifactStore, dataset_key: str, folder: Path, shard_rows: int,
                  settings: Settings | None) -> list[tuple[Path, int]]:
    """The records in source_row order, ``shard_rows`` per file, named as Hugging Face names
    shards; a dataset with no rows still gets one (empty) file."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(name for name, _, _ in HF_COLUMNS)
    schema = pa.schema([(name, pa.string() if dtype == "string" else pa.int64()) for name, dtype, _ in HF_COLUMNS])
    with engine.connect(store, settings=settings) as con:
        location = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
        (total,) = con.execute("select count(*) from read_parquet(?)", [location]).fetchone()
        count = max(1, -(-total // shard_rows))
        reader = con.execute(f"select {columns} from read_parquet(?) order by source_row",
                             [location]).fetch_record_batch(BATCH_ROWS)
        batches = _rechunked(reader, shard_rows)
        shards = []
        for index in range(count):
            path = folder / f"train-{index:05d}-of-{count:05d}.parquet"
            rows = 0
            with pq.ParquetWriter(path, schema) as writer:
                for batch in next(batches, []):
                    writer.write_batch(batch.cast(schema))
                    rows += batch.num_rows
            shards.append((path, rows))
    return shards


def _rechunked(reader: pa.RecordBatchReader, rows: int) -> Iterator[list[pa.RecordBatch]]:
    """The reader's batches regrouped into lists of exactly ``rows`` rows (the last: the rest)."""
    group, filled = [], 0
    for batch in reader:
        while batch.num_rows:
            take = min(rows - filled, batch.num_rows)
            group.append(batch.slice(0, take))
            filled, batch = filled + take, batch.slice(take)
            if filled == rows:
                yield group
                group, filled = [], 0
    if group:
        yield group
