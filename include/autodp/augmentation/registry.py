"""Registered augmentation models: one store artifact per distilled model, keyed by what
made it (name, task, base, adapter, teacher, template, data), so a registration is never
rewritten and a cache key that names an entry's key names exactly one model.

Operators name a model by its entry key or by its name; a name resolves to the newest
entry with that name for the operator's task (``resolve``), and step keys hold the
resolved entry key (``autodp.execution.executor.step_key_material``), so registering a newer model
under the same name makes the next run recompute instead of reusing the old outputs.
"""

from __future__ import annotations

from typing import Any

from autodp.artifacts import AUGMENTATION_MODELS, ENTRY_FILE
from autodp.augmentation.templates import template
from autodp.hashing import content_key
from autodp.store import ArtifactStore

REGISTRY_VERSION = "1"


def register(store: ArtifactStore, *, name: str, task: str, base: str, adapter_key: str, teacher: dict[str, str],
             data: dict[str, str], scores: dict[str, Any], lora: dict[str, Any]) -> dict[str, Any]:
    """Store an entry (or find the same one stored) and return it with its key."""
    chosen = template(task)
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"augmentation model name {name!r}: expected a non-empty name without spaces")
    material = {"name": name, "task": task, "base": base, "adapter_key": adapter_key, "teacher": teacher,
                "template": {"task": task, "version": chosen.version}, "data": data, "lora": lora}
    key = content_key("augmentation-model", REGISTRY_VERSION, material)
    entry = {"key": key, **material, "scores": scores}
    manifest = store.publish_json(AUGMENTATION_MODELS, key, {ENTRY_FILE: entry},
                                  provenance={"step": "register", "version": REGISTRY_VERSION, **material},
                                  summary=entry)
    return {**manifest["summary"], "created_at": manifest["created_at"]}


def entries(store: ArtifactStore) -> list[dict[str, Any]]:
    """Every registered entry, newest first."""
    found = []
    for key in store.artifacts(AUGMENTATION_MODELS):
        manifest = store.manifest(AUGMENTATION_MODELS, key)
        found.append({**manifest["summary"], "created_at": manifest["created_at"]})
    return sorted(found, key=lambda e: (e["created_at"], e["key"]), reverse=True)


def resolve(store: ArtifactStore, model: str, task: str) -> dict[str, Any]:
    """The entry ``model`` names for ``task``: its key, or its name (the newest entry)."""
    if store.has(AUGMENTATION_MODELS, model):
        manifest = store.manifest(AUGMENTATION_MODELS, model)
        entry = {**manifest["summary"], "created_at": manifest["created_at"]}
        if entry["task"] != task:
            raise ValueError(f"augmentation model {model} was distilled for {entry['task']}, not {task}")
        return entry
    known = entries(store)
    for entry in known:
        if entry["name"] == model and entry["task"] == task:
            return entry
    offered = sorted({e["name"] for e in known if e["task"] == task})
    raise LookupError(f"no augmentation model {model!r} for {task} in store {store.uri}; "
                      f"registered for {task}: {', '.join(offered) or 'none'} (autodp distill registers them)")
