"""A published or curated dataset as the tools people fine-tune with read it.

- A Hugging Face dataset: Parquet shards under ``data/`` (``train-00000-of-00003.parquet``)
  and a ``README.md`` whose YAML header is the dataset card Hugging Face expects (license,
  task categories, size category, ``configs``/``data_files`` and the features), its body
  rendered from autodp's data card. ``datasets.load_dataset(<folder>)`` reads it, and the
  published and curated artifacts in the store are such folders.
- Plain JSONL in Alpaca (``instruction``/``input``/``output``) or ShareGPT
  (``conversations`` of ``{from, value}``) layout, which autodp's own ingest reads back.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from autodp import engine, lineage
from autodp.artifacts import (
    CURATED,
    DATA_CARD_FILE,
    DATA_CARD_MARKDOWN_FILE,
    DATASETS,
    EXPORT_FILE,
    EXPORTS,
    PUBLISHED,
    RECORDS_FILE,
)
from autodp.hashing import content_key
from autodp.search.data_card import curated_markdown
from autodp.settings import Settings
from autodp.store import ArtifactStore

HF_CARD_FILE = "README.md"
HF_DATA_DIR = "data"
HF_SHARD_ROWS = 250_000  # rows per Parquet shard: files of tens of MB for typical instruction data
BATCH_ROWS = 8_192
EXPORT_LAYOUTS = ("alpaca", "sharegpt")  # JSONL; "hf" writes a Hugging Face dataset folder
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


def export(store: ArtifactStore, key: str, out: Path, layout: str, settings: Settings | None = None
           ) -> dict[str, Any]:
    """Export the dataset a published search, a curated run or a dataset key names: JSONL in
    Alpaca or ShareGPT layout, or (``hf``) the Hugging Face folder: the one the store keeps
    for a published or curated key, else one written now."""
    dataset_key, body, name = resolve(store, key)
    if layout != "hf":
        return export_jsonl(store, dataset_key, out, layout, settings)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"export folder {out} is not empty")
    files = _stored_hf_files(store, key, out)
    if not files:
        settings = settings or Settings.from_env()
        files = hf_dataset_files(store, dataset_key, out, body, name, settings.dataset_license, settings=settings)
    rows = sum(pq.read_metadata(path).num_rows for name, path in files.items() if name != HF_CARD_FILE)
    return {"dataset_key": dataset_key, "layout": "hf", "path": str(out), "files": sorted(files), "rows": rows}


def _stored_hf_files(store: ArtifactStore, key: str, out: Path) -> dict[str, Path]:
    """The Hugging Face folder a published or curated artifact holds, downloaded into ``out``
    (nothing for a dataset key, or an artifact published before it held one)."""
    kind = next((k for k in (PUBLISHED, CURATED) if store.has(k, key)), None)
    names = [n for n in store.manifest(kind, key)["files"] if n == HF_CARD_FILE or n.startswith(f"{HF_DATA_DIR}/")] \
        if kind else []
    if HF_CARD_FILE not in names:
        return {}
    files = {}
    for name in names:
        files[name] = out / name
        files[name].parent.mkdir(parents=True, exist_ok=True)
        store.download(store.artifact_path(kind, key, name), files[name])
    return files


def hf_name(dataset_key: str, what: str = "published dataset") -> str:
    """The ``pretty_name`` of a dataset's card."""
    return f"autodp {what} {dataset_key[:12]}"


def resolve(store: ArtifactStore, key: str) -> tuple[str, str, str]:
    """(dataset key, card body, pretty name) for a published, curated or dataset key."""
    if store.has(PUBLISHED, key):
        dataset_key = store.manifest(PUBLISHED, key)["summary"]["published_dataset_key"]
        body = store.read_bytes(store.artifact_path(PUBLISHED, key, DATA_CARD_MARKDOWN_FILE)).decode("utf-8")
        return dataset_key, body, hf_name(dataset_key)
    if store.has(CURATED, key):
        card = store.read_json(CURATED, key, DATA_CARD_FILE)
        return card["output_dataset_key"], curated_markdown(card), hf_name(card["output_dataset_key"], card["recipe"])
    if store.has(DATASETS, key):
        return key, f"# Dataset {key}\n\nA dataset in autodp's store {store.uri}.", hf_name(key, "dataset")
    raise ValueError(f"{key!r} is not a published search, a curated run or a dataset in store {store.uri}")


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


def export_jsonl(store: ArtifactStore, dataset_key: str, out: Path, layout: str,
                 settings: Settings | None = None) -> dict[str, Any]:
    """Write dataset ``dataset_key`` to ``out`` as JSONL in ``layout``, in source_row order,
    atomically (a reader never sees half a file)."""
    if layout not in EXPORT_LAYOUTS:
        raise ValueError(f"export layout {layout!r} is not one of {', '.join(EXPORT_LAYOUTS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with engine.connect(store, settings=settings) as con, \
            tempfile.NamedTemporaryFile("wb", dir=out.parent, prefix=f".{out.name}.", delete=False) as tmp:
        try:
            location = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
            reader = con.execute("select instruction, input, output, metadata from read_parquet(?) order by source_row",
                                 [location]).fetch_record_batch(BATCH_ROWS)
            for batch in reader:
                for record in batch.to_pylist():
                    tmp.write(orjson.dumps(_alpaca(record) if layout == "alpaca" else _sharegpt(record)) + b"\n")
                    rows += 1
            tmp.close()
            Path(tmp.name).replace(out)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    return {"dataset_key": dataset_key, "layout": layout, "path": str(out), "rows": rows}


def export_to_store(store: ArtifactStore, key: str, layout: str, settings: Settings | None = None) -> dict[str, Any]:
    """The JSONL export as an artifact of its own, keyed by dataset and layout, for runs
    whose files live in the store (``autodp_curate``'s ``export_layout``)."""
    dataset_key, _, _ = resolve(store, key)
    export_key = content_key("export", "1", {"dataset": dataset_key, "layout": layout})
    if not store.has(EXPORTS, export_key):
        with tempfile.TemporaryDirectory(prefix="autodp-export-") as tmp:
            written = export_jsonl(store, dataset_key, Path(tmp) / EXPORT_FILE, layout, settings)
            store.publish(EXPORTS, export_key, {EXPORT_FILE: Path(written["path"])},
                          provenance={"step": "export", "dataset": dataset_key, "layout": layout},
                          summary={"dataset_key": dataset_key, "layout": layout, "rows": written["rows"]})
    lineage.read_artifact(store, DATASETS, dataset_key)
    lineage.wrote_artifact(store, EXPORTS, export_key)
    summary = store.manifest(EXPORTS, export_key)["summary"]
    return {**summary, "export_key": export_key, "location": store.file_location(EXPORTS, export_key, EXPORT_FILE)}


def _alpaca(record: dict[str, Any]) -> dict[str, str]:
    return {"instruction": record["instruction"], "input": record["input"], "output": record["output"]}


def _sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """The record as the last exchange of a conversation: the system prompt and earlier turns
    that ingest kept in metadata come first. ShareGPT has no input field, so a non-empty
    input follows the instruction in the human turn after a blank line."""
    metadata = orjson.loads(record["metadata"]) if record["metadata"] else {}
    turns = [{"from": "system", "value": metadata["system"]}] if isinstance(metadata.get("system"), str) else []
    for exchange in metadata.get("history") or []:
        if isinstance(exchange, list) and len(exchange) == 2 and all(isinstance(t, str) for t in exchange):
            turns += [{"from": "human", "value": exchange[0]}, {"from": "gpt", "value": exchange[1]}]
    prompt = record["instruction"] + (f"\n\n{record['input']}" if record["input"] else "")
    return {"conversations": [*turns, {"from": "human", "value": prompt}, {"from": "gpt", "value": record["output"]}]}
