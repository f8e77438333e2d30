"""The operator registry: every module under a stage folder defines one operator whose
registry name is its file name."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from autodp.operators.base import Operator

STAGE_PACKAGES = ("cleaning", "selection", "refinement", "generation")


@cache
def registry() -> dict[str, type[Operator]]:
    found: dict[str, type[Operator]] = {}
    for stage in STAGE_PACKAGES:
        package = f"autodp.operators.{stage}"
        for module_info in pkgutil.iter_modules([str(Path(__file__).parent / stage)]):
            module = importlib.import_module(f"{package}.{module_info.name}")
            operators = [v for v in vars(module).values()
                         if isinstance(v, type) and issubclass(v, Operator)
                         and v.__module__ == module.__name__ and getattr(v, "name", None)]
            if len(operators) != 1 or operators[0].name != module_info.name:
                raise RuntimeError(f"{module.__name__} must define one operator named {module_info.name!r}")
            if operators[0].stage != stage:
                raise RuntimeError(f"{module.__name__}: stage {operators[0].stage!r} but lives in {stage}/")
            found[module_info.name] = operators[0]
    return dict(sorted(found.items()))


def get(name: str) -> type[Operator]:
    return registry()[name]


def catalogue() -> list[dict]:
    """What an agent or a person needs to choose operators: no code, no data."""
    return [
        {
            "name": name,
            "stage": op.stage,
            "role": op.role,
            "version": op.version,
            "needs_llm": op.needs_llm,
            "needs_embeddings": op.needs_embeddings,
            "description": op.describe(),
            "parameters": op.Params.model_json_schema(),
        }
        for name, op in registry().items()
    ]
