"""A dataset as plain JSONL in Alpaca (``instruction``/``input``/``output``) or ShareGPT
(``conversations`` of ``{from, value}``) layout, which autodp's own ingest reads back."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.exports.huggingface import BATCH_ROWS
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine

EXPORT_LAYOUTS = ("alpaca", "sharegpt")  # JSONL; "hf" writes a Hugging Face dataset folder


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
