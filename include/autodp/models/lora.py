"""LoRA fine-tuning (transformers + peft) of a base model on a dataset's records.

The adapter is an artifact keyed by (dataset key, base model, hyperparameters), so a
candidate already trained is never trained again. Prompts use the model's chat template;
the loss covers the response tokens only.

Each batch slot draws one record, uniformly and with replacement. By default
(``draws="content"``) slot t takes the record whose seeded hash of (its content, t) is
least, so two datasets trained with the same seed draw the same record in every slot where
both hold the record that won it: a strategy's adapter differs from raw's only where the
strategy removed, rewrote or added rows (common random numbers). ``draws="position"``,
the draw adapters trained before the setting had, takes ``randrange`` over row positions:
removing one row moves every draw after it, so two datasets share only the initialisation.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autodp.artifacts import ADAPTERS, DATASETS, RECORDS_FILE
from autodp.hashing import content_key
from autodp.models.base import autocast, device, load_base
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import prompt_text

FINETUNE_VERSION = "3"
# What is stored of peft's save: not the README.md model card it writes, an empty template
# that names the worker's local base-model folder.
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
PRECISIONS = ("float32", "bfloat16")
DRAWS = ("content", "position")


@dataclass(frozen=True)
class LoraSettings:
    """Hyperparameters; ``epochs``, when given, sets the step count from the data size
    (ceil(epochs x rows / batch_size)) instead of ``steps``. ``precision`` "bfloat16" trains
    under bfloat16 autocast (the weights, LoRA's included, stay in their own dtype), and a
    confirmation scores its adapters in it too: faster where the hardware multiplies bfloat16
    natively, and a different adapter, so it is part of the adapter's key. ``draws`` is how
    a batch slot picks its record (the module's docstring)."""

    steps: int = 60
    epochs: float | None = None
    batch_size: int = 8
    learning_rate: float = 3e-4
    max_length: int = 256
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    seed: int = 0
    precision: str = "float32"
    draws: str = "content"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"LoRA precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.draws not in DRAWS:
            raise ValueError(f"LoRA draws {self.draws!r}: expected one of {', '.join(DRAWS)}")

    def material(self) -> dict[str, Any]:
        """The settings as keys take them: float32 and position draws, what every adapter had
        before those settings existed, keep the key they had."""
        data = asdict(self)
        if data["precision"] == "float32":
            del data["precision"]
        if data["draws"] == "position":
            del data["draws"]
        return data


def finetune(dataset_key: str, store: ArtifactStore, base: str = "smollm2", lora: LoraSettings | None = None,
             settings: Settings | None = None, reuse: bool = True) -> dict[str, Any]:
    """Train (or, with ``reuse``, find in the store) the adapter for ``dataset_key``."""
    import torch
    from peft import get_peft_model

    lora = lora or LoraSettings()
    settings = settings or Settings.from_env()
    key = content_key("adapter", FINETUNE_VERSION, {"dataset": dataset_key, "base": base, "lora": lora.material()})
    if reuse and store.has(ADAPTERS, key):
        return {**store.manifest(ADAPTERS, key)["summary"], "cached": True}
    pairs = _pairs(store, dataset_key, settings)
    if not pairs:
        raise ValueError(f"dataset {dataset_key} has no records to train on")
    steps = lora.steps if lora.epochs is None else max(1, math.ceil(lora.epochs * len(pairs) / lora.batch_size))
    model, tokenizer = load_base(base, settings)
    torch.manual_seed(lora.seed)
    model = get_peft_model(model, lora_config(lora))
    model.train()
    examples = [encode(tokenizer, prompt, response, lora.max_length) for prompt, response in pairs]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lora.learning_rate)
    slots = batch_draws(pairs, lora, steps)
    losses, started = [], time.perf_counter()
    for step in range(steps):
        batch = collate([examples[i] for i in slots[step]], tokenizer.pad_token_id)
        if lora.draws == "content":  # dropout's masks from (seed, step): a batch both arms draw gets the same ones
            torch.manual_seed(_mix(lora.seed, step))
        with autocast(lora.precision, model.device.type):
            loss = model(**{k: v.to(model.device) for k, v in batch.items()}).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - started
    summary = {"adapter_key": key, "dataset_key": dataset_key, "base": base, "device": device(),
               "train_rows": len(pairs), "steps": steps, "precision": lora.precision, "seconds": round(seconds, 2),
               "steps_per_s": round(steps / seconds, 3) if seconds else None,
               "loss_first": round(_mean(losses[:5]), 4), "loss_last": round(_mean(losses[-5:]), 4)}
    with tempfile.TemporaryDirectory(prefix="autodp-adapter-save-") as tmp:
        model.save_pretrained(tmp)
        canonical_adapter_config(Path(tmp) / "adapter_config.json", base)
        files = {name: Path(tmp) / name for name in ADAPTER_FILES}
        store.publish(ADAPTERS, key, files, provenance={"step": "finetune", "version": FINETUNE_VERSION,
                                                        "dataset": dataset_key, "base": base, "lora": lora.material()},
                      summary=summary)
    return {**summary, "cached": False}


def batch_draws(pairs: list[tuple[str, str]], lora: LoraSettings, steps: int) -> list[list[int]]:
    """Per step, the positions in ``pairs`` of the records its batch slots draw."""
    count = steps * lora.batch_size
    if lora.draws == "position":
        order = random.Random(lora.seed)
        drawn = [order.randrange(len(pairs)) for _ in range(count)]
    else:
        drawn = content_draws(pairs, lora.seed, count)
    return [drawn[step * lora.batch_size:(step + 1) * lora.batch_size] for step in range(steps)]


def content_draws(pairs: list[tuple[str, str]], seed: int, count: int) -> list[int]:
    """``count`` draws, uniform with replacement over ``pairs``: draw t takes the record whose
    hash of (its content, seed, t) is least. The k-th copy of a record is hashed as a record
    of its own, so a record repeated five times is drawn five times as often."""
    import numpy as np

    copies: dict[tuple[str, str], int] = {}
    keys = np.empty(len(pairs), dtype=np.uint64)
    for position, pair in enumerate(pairs):
        copy = copies[pair] = copies.get(pair, -1) + 1
        digest = hashlib.blake2b(json.dumps([*pair, copy]).encode(), digest_size=8).digest()
        keys[position] = int.from_bytes(digest, "little")
    salts = np.array([_mix(seed, t) for t in range(count)], dtype=np.uint64)
    chunk = max(1, (1 << 22) // max(1, len(pairs)))  # about 4M hashes at a time
    drawn = [np.argmin(_mix64(keys[None, :] ^ salts[start:start + chunk, None]), axis=1)
             for start in range(0, count, chunk)]
    return np.concatenate(drawn).tolist() if drawn else []


def _mix(seed: int, index: int) -> int:
    """A 63-bit value from (seed, index): splitmix64's finaliser, in Python's integers."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) >> 1


def _mix64(values):
    """splitmix64's finaliser over a uint64 array (multiplication wraps modulo 2**64)."""
    import numpy as np

    z = values ^ (values >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def lora_config(lora: LoraSettings):
    """peft's configuration for these settings: every adapter, and every gradient feature
    (``gradient_value``), starts from the same one."""
    from peft import LoraConfig

    return LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=list(TARGET_MODULES), task_type="CAUSAL_LM")


def canonical_adapter_config(path: Path, base: str) -> None:
    """The same training gives the same bytes on any worker: peft writes ``target_modules``
    from a set, in an order that changes with the process's hash seed (sorted here), and
    the base model's local folder, which lies under each worker's home (the base as named
    here instead)."""
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = base
    for name, value in config.items():
        if name.endswith("modules") and isinstance(value, list) and all(isinstance(v, str) for v in value):
            config[name] = sorted(value)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def encode(tokenizer, prompt: str, response: str, max_length: int) -> dict[str, list[int]]:
    """Token ids of the chat-formatted pair, with labels on the response tokens only."""
    head = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                         add_generation_prompt=True)
    head_ids = tokenizer(head, add_special_tokens=False)["input_ids"]
    tail_ids = tokenizer(response + (tokenizer.eos_token or ""), add_special_tokens=False)["input_ids"]
    head_ids = head_ids[-max(1, max_length // 2):]
    ids = (head_ids + tail_ids)[:max_length]
    labels = ([-100] * len(head_ids) + tail_ids)[:max_length]
    return {"input_ids": ids, "labels": labels}


def collate(examples: list[dict[str, list[int]]], pad_id: int):
    import torch

    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, :n] = torch.tensor(e["labels"])
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def load_adapted(store: ArtifactStore, adapter_key: str, base: str, settings: Settings | None = None):
    """The base model with a stored adapter applied, in eval mode."""
    from peft import PeftModel

    model, tokenizer = load_base(base, settings)
    with tempfile.TemporaryDirectory(prefix="autodp-adapter-load-") as tmp:
        for name in store.manifest(ADAPTERS, adapter_key)["files"]:
            store.download(store.artifact_path(ADAPTERS, adapter_key, name), Path(tmp) / name)
        adapted = PeftModel.from_pretrained(model, tmp).eval()
    return adapted, tokenizer


def _pairs(store: ArtifactStore, dataset_key: str, settings: Settings) -> list[tuple[str, str]]:
    with engine.connect(store, settings=settings) as con:
        rows = con.execute("select instruction, input, output from read_parquet(?) order by source_row",
                           [store.file_location(DATASETS, dataset_key, RECORDS_FILE)]).fetchall()
    return [(prompt_text({"instruction": i, "input": x}), o) for i, x, o in rows]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
