"""A registered augmentation model run in process: the base model with its LoRA adapter
(transformers + peft, on the GPU when there is one), prompted with the raw instruction as
a plain user turn. Answers are cached by (entry, prompt, decoding settings), so a record
is generated once across steps, strategies and runs, like the data LLM's answers."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodp.settings import Settings
from autodp.store import ArtifactStore


@dataclass
class Generation:
    """What a model's generation cost: new tokens and seconds, over the prompts computed now."""

    prompts: int = 0
    cached: int = 0
    new_tokens: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"prompts": self.prompts, "cached": self.cached, "new_tokens": self.new_tokens,
                "seconds": round(self.seconds, 3)}


@dataclass
class Student:
    store: ArtifactStore
    adapter_key: str
    base: str
    settings: Settings
    cache_dir: Path | None = None
    usage: Generation = field(default_factory=Generation)
    _model: Any = None
    _tokenizer: Any = None
    _cache: Any = None

    @classmethod
    def of_entry(cls, store: ArtifactStore, entry: dict[str, Any], settings: Settings,
                 cache_dir: Path | None = None) -> Student:
        return cls(store, entry["adapter_key"], entry["base"], settings, cache_dir)

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float = 0.0,
                 seed: int = 0) -> list[str]:
        """One answer per prompt, each decoded on its own (greedy, or sampled with a seed of
        its own: the same prompt and seed give the same answer in any batch)."""
        answers = []
        for index, prompt in enumerate(prompts):
            key = self._key(prompt, max_new_tokens, temperature, seed + index)
            hit = self._store_cache().get(key) if self.cache_dir is not None else None
            if hit is not None:
                self.usage.cached += 1
                answers.append(hit)
                continue
            answer = self._decode(prompt, max_new_tokens, temperature, seed + index)
            if self.cache_dir is not None:
                self._store_cache().set(key, answer)
            answers.append(answer)
        return answers

    def _decode(self, prompt: str, max_new_tokens: int, temperature: float, seed: int) -> str:
        import torch

        model, tokenizer = self.load()
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else \
            {"do_sample": False}
        started = time.perf_counter()
        with torch.no_grad():
            torch.manual_seed(seed)
            out = model.generate(**ids, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 **sampling)
        new = out[0, ids["input_ids"].shape[1]:]
        self.usage.prompts += 1
        self.usage.new_tokens += int(new.shape[0])
        self.usage.seconds += time.perf_counter() - started
        return tokenizer.decode(new, skip_special_tokens=True).strip()

    def load(self):
        """(model, tokenizer): the base with the adapter applied, loaded on first use."""
        if self._model is None:
            from autodp.models.lora import load_adapted

            self._model, self._tokenizer = load_adapted(self.store, self.adapter_key, self.base, self.settings)
        return self._model, self._tokenizer

    def _store_cache(self):
        if self._cache is None:
            import diskcache

            self._cache = diskcache.Cache(str(self.cache_dir))
        return self._cache

    def _key(self, prompt: str, max_new_tokens: int, temperature: float, seed: int) -> str:
        material = [self.adapter_key, self.base, prompt, max_new_tokens, temperature, seed if temperature > 0 else 0]
        return hashlib.sha256(json.dumps(material).encode("utf-8", "surrogatepass")).hexdigest()
