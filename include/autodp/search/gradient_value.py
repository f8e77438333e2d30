"""Data value by gradient alignment: how far one step of fine-tuning on a dataset would lower
the loss of clean references, from per-record gradients at the fine-tune's own start.

Every candidate's fine-tune starts from the same point: the base weights, LoRA's A matrices
drawn by the LoRA seed, and B = 0. There the gradient of a record's loss (the mean over its
response tokens, as training takes it) with respect to each adapted projection's B is
g = sum over tokens of delta_t (A x_t)^T: the update the first step makes, seen through the
random A (the gradient with respect to A is zero while B is). Each record's gradient is
count-sketched to ``SKETCH_DIM`` values (a seeded bucket and sign per coordinate, so inner
products are kept in expectation), as TracIn and LESS use gradient features.

A dataset's value on a reference is <mean of its records' features, the reference's
feature>; to first order, a small step on the dataset lowers that reference's loss in
proportion to it. Two forms: ``inner`` as written, and ``cosine``, where every feature is
normalised first (as LESS does, so that short records with large gradients do not dominate).

Both see what a record teaches, not how many different records there are: a dataset cut to
a tenth, or a fifth of it repeated five times, has about the value of the whole, while a
model fine-tuned on either is far worse (``bench/ladder.py`` measures it). The third form,
``flow``, follows training past its first step. In the normalised feature space each
distinct record is a direction whose loss falls linearly as the update moves along it and
stops falling once the record is learned (a loss u + u^2/2 in u = <feature, update>, least at
u = -1); a record repeated k times weighs k. Gradient flow on the records' mean loss for a
time ``horizon`` moves the update by a weighted sum of the distinct records' features, in
closed form from the eigenvectors of their weighted Gram matrix, and the value on a
reference is that update's alignment with it. Near time zero it is the cosine value times
the horizon. Later, a record already learned stops contributing, so a few distinct records,
learned early, give a small update, while many give a large one along what they share: the
value sees quantity and repetition. Too late, every record is learned and what was shared no
longer matters, so the ladder (``make bench-ladder``) measures at which horizons the order
of its rungs is right; ``FLOW_HORIZON`` is that calibration.

The value has no seed noise (the same records give the same figure) and features depend on
a record's content only, so a candidate that shares rows with the raw data pays only for its
new rows, and scoring it is a mean and a dot product (``flow``: an eigendecomposition of a
matrix as wide as the candidate's distinct records, milliseconds for a few hundred).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from autodp.artifacts import FEATURES, FEATURES_FILE
from autodp.hashing import content_key
from autodp.models.base import load_base
from autodp.models.lora import collate, encode, lora_config
from autodp.search.config import LoraSettings
from autodp.search.evaluation import bootstrap_mean
from autodp.settings import Settings
from autodp.store import ArtifactStore

GRADIENT_VERSION = "1"
SKETCH_DIM = 4096
FORMS = ("inner", "cosine", "flow")
# Calibrated on the quality ladder (make bench-ladder): 8 fails both of its ladders; 10 one pair of the first's
# quantity rungs (a quarter of the rows against 30% damaged); 12 and 15 the second's mismatched ladder.
FLOW_HORIZON = 10.0


def pair_key(prompt: str, response: str) -> str:
    """A record's content key: the features of a record depend on nothing else."""
    return hashlib.sha256(f"{prompt}\x00{response}".encode()).hexdigest()


@dataclass(frozen=True)
class SketchedModel:
    """The base model with LoRA at its initialisation, the adapted projections' B matrices
    (``modules``), and each one's sketch: a bucket and a sign per coordinate."""

    model: Any
    tokenizer: Any
    modules: list
    buckets: list
    signs: list


class GradientFeatures:
    """Per-record sketched LoRA-B gradients under one base model and LoRA initialisation,
    computed once per record content (``cache``). The model is loaded only when a record's
    gradient is first computed, so features found in the store cost no load."""

    def __init__(self, base: str = "smollm2", lora: LoraSettings | None = None, settings: Settings | None = None,
                 dim: int = SKETCH_DIM, batch_size: int = 4) -> None:
        self.lora = lora or LoraSettings()
        self.dim, self.batch_size, self.base, self.settings = dim, batch_size, base, settings
        self.cache: dict[str, np.ndarray] = {}
        self.computed = 0  # records whose gradient this object computed (not found in the cache)

    @cached_property
    def network(self) -> SketchedModel:
        import torch
        from peft import get_peft_model

        model, tokenizer = load_base(self.base, self.settings)
        torch.manual_seed(self.lora.seed)
        model = get_peft_model(model, lora_config(self.lora)).eval()
        modules = [module for name, module in model.named_modules() if name.endswith("lora_B.default")]
        for name, parameter in model.named_parameters():
            parameter.requires_grad_("lora_B" in name)
        generator = torch.Generator().manual_seed(self.lora.seed + 1)
        buckets, signs = [], []
        for module in modules:
            size = module.weight.numel()
            buckets.append(torch.randint(0, self.dim, (size,), generator=generator))
            signs.append(torch.randint(0, 2, (size,), generator=generator).float() * 2 - 1)
        return SketchedModel(model, tokenizer, modules, buckets, signs)

    def identity(self) -> dict[str, Any]:
        """What the features depend on besides a record's content."""
        return {"version": GRADIENT_VERSION, "base": self.base, "dim": self.dim, "rank": self.lora.rank,
                "alpha": self.lora.alpha, "seed": self.lora.seed, "max_length": self.lora.max_length}

    def features(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """One row per (prompt, response) pair, in order."""
        keys = [pair_key(prompt, response) for prompt, response in pairs]
        missing = list(dict.fromkeys(k for k in keys if k not in self.cache))
        wanted = {k: pair for k, pair in zip(keys, pairs)}
        # Similar lengths together, so a batch pads little.
        missing.sort(key=lambda k: len(wanted[k][0]) + len(wanted[k][1]))
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start:start + self.batch_size]
            for key, row in zip(chunk, self._sketch([wanted[k] for k in chunk])):
                self.cache[key] = row
            self.computed += len(chunk)
        return np.stack([self.cache[k] for k in keys]) if keys else np.zeros((0, self.dim), dtype=np.float32)

    def _sketch(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        import torch

        net = self.network
        encoded = [encode(net.tokenizer, prompt, response, self.lora.max_length) for prompt, response in pairs]
        batch = collate(encoded, net.tokenizer.pad_token_id)
        inputs, grads, handles = {}, {}, []

        def keep(index):
            def hook(module, args, output):
                inputs[index] = args[0].detach()
                output.register_hook(lambda grad: grads.__setitem__(index, grad.detach()))
            return hook

        for index, module in enumerate(net.modules):
            handles.append(module.register_forward_hook(keep(index)))
        try:
            logits = net.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2).float(), labels,
                                                       ignore_index=-100, reduction="none")
            mask = (labels != -100).float()
            per_record = (losses * mask).sum(1) / mask.sum(1).clamp(min=1)
            per_record.sum().backward()  # each record's own mean loss: their gradients do not mix
        finally:
            for handle in handles:
                handle.remove()
            net.model.zero_grad(set_to_none=True)
        sketch = torch.zeros(len(pairs), self.dim)
        for index in range(len(net.modules)):
            per_record_grad = torch.einsum("bto,btr->bor", grads[index], inputs[index]).reshape(len(pairs), -1)
            sketch.index_add_(1, net.buckets[index], per_record_grad * net.signs[index])
        return sketch.numpy().astype(np.float32)


def stored_features(store: ArtifactStore, extractor: GradientFeatures, pairs: Sequence[tuple[str, str]]
                    ) -> tuple[np.ndarray, str]:
    """(features of ``pairs``, the artifact's key): computed once and kept in the store, keyed
    by the records' contents and the extractor's identity, so a rerun on any worker computes
    nothing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = [pair_key(prompt, response) for prompt, response in pairs]
    key = content_key("features", GRADIENT_VERSION, {"records": sorted(set(keys)), **extractor.identity()})
    with tempfile.TemporaryDirectory(prefix="autodp-features-") as tmp:
        path = Path(tmp) / FEATURES_FILE
        if store.has(FEATURES, key):
            store.download(store.artifact_path(FEATURES, key, FEATURES_FILE), path)
            table = pq.read_table(path)
            for record, feature in zip(table["content_key"].to_pylist(), table["feature"].to_numpy(zero_copy_only=False)):
                extractor.cache.setdefault(record, np.asarray(feature, dtype=np.float32))
            return extractor.features(pairs), key
        features = extractor.features(pairs)
        unique = dict(zip(keys, features))
        pq.write_table(pa.table({"content_key": list(unique),
                                 "feature": pa.array([v.tolist() for v in unique.values()],
                                                     type=pa.list_(pa.float32(), extractor.dim))}), path)
        store.publish(FEATURES, key, {FEATURES_FILE: path}, summary={"records": len(unique), **extractor.identity()},
                      provenance={"step": "gradient_features", **extractor.identity()})
    return features, key


def normalised(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def alignment(records: np.ndarray, references: np.ndarray, form: str = "cosine") -> np.ndarray:
    """Records x references: each record's feature against each reference's."""
    if form not in ("inner", "cosine"):
        raise ValueError(f"form {form!r}: alignment is per record, in the inner or cosine form")
    if form == "cosine":
        records, references = normalised(records), normalised(references)
    return records @ references.T


def flow_weights(records: np.ndarray, horizon: float = FLOW_HORIZON) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct records' normalised features, each one's weight in the update that
    gradient flow for ``horizon`` reaches): the ``flow`` form of the module's docstring."""
    if horizon <= 0:
        raise ValueError(f"horizon {horizon}: expected a positive time")
    distinct, counts = np.unique(normalised(records).astype(np.float64), axis=0, return_counts=True)
    root = np.sqrt(counts / counts.sum())  # each distinct record's share of the mean loss, square-rooted
    gram = root[:, None] * (distinct @ distinct.T) * root[None, :]
    eigenvalues, vectors = np.linalg.eigh(gram)
    eigenvalues = eigenvalues.clip(min=0.0)
    flat = eigenvalues < 1e-12  # directions the records do not span move as far as time allows
    factor = np.where(flat, horizon, -np.expm1(-horizon * eigenvalues) / np.where(flat, 1.0, eigenvalues))
    return distinct, root * (vectors @ (factor * (vectors.T @ root)))


def per_reference_value(records: np.ndarray, references: np.ndarray, form: str = "cosine",
                        horizon: float = FLOW_HORIZON) -> np.ndarray:
    """The dataset's value on each reference: <mean record feature, reference feature>, or
    in the ``flow`` form the update's alignment with the reference."""
    if form not in FORMS:
        raise ValueError(f"form {form!r}: expected one of {FORMS}")
    if form == "flow":
        distinct, weights = flow_weights(records, horizon)
        return normalised(references).astype(np.float64) @ distinct.T @ weights
    return alignment(records, references, form).mean(axis=0)


def compare_value(candidate: np.ndarray, baseline: np.ndarray, references: np.ndarray, form: str = "cosine",
                  seed: int = 0, resamples: int = 2000, sampled_records: bool = False) -> dict[str, Any]:
    """Candidate against baseline: the mean over references of the difference in value, with a
    bootstrap 95% interval over the references (a sample of what the model should learn).
    A dataset given whole is what it is; with ``sampled_records`` (each side a sample of a
    larger dataset), each side's records are resampled in the same draws. The ``flow`` form
    values each side whole: a resample's repeated records would count as repetition."""
    if form == "flow" and sampled_records:
        raise ValueError("the flow form values a dataset whole; its records cannot be resampled")
    if sampled_records:
        on_candidate, on_baseline = alignment(candidate, references, form), alignment(baseline, references, form)
        gain = on_candidate.mean(axis=0) - on_baseline.mean(axis=0)
        rng = np.random.default_rng(seed)
        draws = np.empty(resamples)
        for n in range(resamples):
            refs = rng.integers(0, len(gain), len(gain))
            rows_c = rng.integers(0, len(on_candidate), len(on_candidate))
            rows_b = rng.integers(0, len(on_baseline), len(on_baseline))
            draws[n] = on_candidate[rows_c][:, refs].mean() - on_baseline[rows_b][:, refs].mean()
        mean, low, high = float(gain.mean()), float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))
    else:
        gain = per_reference_value(candidate, references, form) - per_reference_value(baseline, references, form)
        mean, low, high = bootstrap_mean(gain, seed, resamples)
    return {"signal": f"gradient_{form}", "mean": mean, "ci95": [low, high], "separated": low > 0 or high < 0}
