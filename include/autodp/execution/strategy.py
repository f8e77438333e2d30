"""Strategies are data: an ordered list of operator steps, validated against the registry.

Accepted forms (JSON or YAML):
    {"steps": [{"operator": "exact_dedup", "params": {"key": "prompt"}}, ...]}
    [{"operator": "exact_dedup", "params": {...}}, ...]
    [{"exact_dedup": {"key": "prompt"}}, "drop_empty_output", ...]      # recipe style

The canonical form spells every parameter, defaults included, so two spellings of one
strategy have one key.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autodp import operators
from autodp.hashing import content_key
from autodp.operators.base import Operator

STRATEGY_VERSION = "1"


class StrategyError(ValueError):
    """A strategy that does not validate against the operator catalogue."""


@dataclass(frozen=True)
class Step:
    operator: Operator

    @property
    def name(self) -> str:
        return self.operator.name

    def canonical(self) -> dict[str, Any]:
        return {"operator": self.name, "params": self.operator.params.model_dump(mode="json")}

    def key_material(self) -> dict[str, Any]:
        return {**self.canonical(), "version": self.operator.version}


@dataclass(frozen=True)
class Strategy:
    steps: tuple[Step, ...]

    @classmethod
    def from_data(cls, data: Any) -> Strategy:
        if isinstance(data, dict) and set(data) <= {"steps", "name", "description"}:
            data = data.get("steps")
        if not isinstance(data, list):
            raise StrategyError('a strategy is a list of steps, or {"steps": [...]}')
        return cls(tuple(_step(position, item) for position, item in enumerate(data, start=1)))

    @classmethod
    def from_file(cls, path: str | Path) -> Strategy:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise StrategyError(f"{path}: cannot read: {error.strerror}") from error
        try:
            data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as error:
            raise StrategyError(f"{path}: not valid JSON/YAML: {error}") from error
        try:
            return cls.from_data(data)
        except StrategyError as error:
            raise StrategyError(f"{path}: {error}") from error

    def canonical(self) -> dict[str, Any]:
        return {"steps": [step.canonical() for step in self.steps]}

    def needs_llm(self) -> bool:
        return any(step.operator.needs_llm for step in self.steps)

    def key(self) -> str:
        return content_key("strategy", STRATEGY_VERSION, {"steps": [s.key_material() for s in self.steps]})


def _step(position: int, item: Any) -> Step:
    if isinstance(item, str):
        name, params = item, {}
    elif isinstance(item, dict) and "operator" in item:
        unknown = set(item) - {"operator", "params"}
        if unknown:
            raise StrategyError(f"step {position}: unknown keys {sorted(unknown)} (expected operator, params)")
        name, params = item["operator"], item.get("params") or {}
    elif isinstance(item, dict) and len(item) == 1:
        [(name, params)] = item.items()
        params = params or {}
    else:
        raise StrategyError(f"step {position}: expected {{'operator': NAME, 'params': {{...}}}}")
    registry = operators.registry()
    if name not in registry:
        close = difflib.get_close_matches(str(name), registry, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise StrategyError(f"step {position}: unknown operator {name!r}{hint}")
    if not isinstance(params, dict):
        raise StrategyError(f"step {position} ({name}): params must be an object")
    operator_class = registry[name]
    try:
        return Step(operator_class(operator_class.Params(**params)))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}" for e in error.errors()
        )
        raise StrategyError(f"step {position} ({name}): {problems}") from error


def strategy_schema() -> dict[str, Any]:
    """JSON Schema of a strategy, generated from the registry (for constrained decoding)."""
    variants = []
    for name, op in operators.registry().items():
        variants.append({
            "type": "object",
            "properties": {"operator": {"const": name}, "params": op.Params.model_json_schema()},
            "required": ["operator"],
            "additionalProperties": False,
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "autodp strategy",
        "type": "object",
        "properties": {"steps": {"type": "array", "items": {"oneOf": variants}}},
        "required": ["steps"],
        "additionalProperties": False,
    }
