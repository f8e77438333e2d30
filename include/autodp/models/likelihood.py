"""Per-token likelihood of a text under the base model, computed in process with
llama.cpp from the SmolLM2 GGUF (the same weights the LLM server serves). The server's
echo logprobs are not usable for this: they disagree with the model's own logits."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np


class LikelihoodScorer:
    def __init__(self, model_path: Path | None = None, n_ctx: int = 1024):
        self.model_path = model_path
        self.n_ctx = n_ctx
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            from llama_cpp import Llama

            from autodp.llm.server import smollm2_gguf

            self._model = Llama(model_path=str(self.model_path or smollm2_gguf()), logits_all=True,
                                n_ctx=self.n_ctx, n_threads=os.cpu_count() or 1, verbose=False)
        return self._model

    def mean_nll(self, prefix: str, continuation: str, max_tokens: int | None = None) -> float:
        """Mean negative log-likelihood (nats/token) of ``continuation`` after ``prefix``,
        over at most ``max_tokens`` tokens in all (the context size by default): the
        continuation's first half of them, the end of the prefix before it."""
        with self._lock:
            model = self._load()
            head = model.tokenize(prefix.encode(), add_bos=True, special=False)
            tail = model.tokenize(continuation.encode(), add_bos=False, special=False)
            budget = min(self.n_ctx - 1, max_tokens or self.n_ctx - 1)
            tail = tail[: max(1, budget // 2)]
            head = head[-(budget - len(tail)):] if head else head
            tokens = head + tail
            if len(tail) == 0 or len(tokens) < 2:
                return 0.0
            model.reset()
            model.eval(tokens)
            logits = np.asarray(model.scores[: len(tokens)], dtype=np.float64)
        start = max(len(head), 1)
        rows = logits[start - 1: len(tokens) - 1]
        top = rows.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(rows - top).sum(axis=1)) + top[:, 0]
        picked = rows[np.arange(len(rows)), tokens[start:]]
        return float(np.mean(log_norm - picked))
