"""A published search, a curated run or any dataset as the tools people fine-tune with
read it: a Hugging Face dataset folder (``huggingface``) or Alpaca or ShareGPT JSONL
(``jsonl``), written to a folder or kept in the store as an export artifact."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from autodp.artifacts import (
    CURATED,
    DATA_CARD_FILE,
    DATA_CARD_MARKDOWN_FILE,
    DATASETS,
    EXPORT_FILE,
    EXPORTS,
    PUBLISHED,
)
from autodp.exports.cards import curated_markdown
from autodp.exports.huggingface import HF_CARD_FILE, HF_DATA_DIR, hf_dataset_files, hf_name
from autodp.exports.jsonl import export_jsonl
from autodp.hashing import content_key
from autodp.settings import Settings
from autodp.store import ArtifactStore, lineage


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
