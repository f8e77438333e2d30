"""What a distillation is asked to do: one configuration, built the same way from the
command line and from the ``autodp_distill`` DAG's Params (``DistillConfig.from_params``),
whose defaults both take from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from autodp.augmentation.templates import TASKS, template
from autodp.execution.strategy import Strategy
from autodp.models.lora import LoraSettings

# The teacher data's filter: normalise, drop empty and over-long outputs, exact and near
# duplicates, other languages, outputs unrelated to their seed, and what the quality
# scorer's rules and relevance margin call low quality (score below 0.5).
FILTER = ("normalize_text", "drop_empty_output", "exact_dedup", "near_dedup",
          {"length_bounds": {"min_output_chars": 12, "max_output_chars": 4000}}, "language_filter",
          {"relevance_filter": {"min_similarity": 0.2}},
          {"quality_score_filter": {"scorer": "signals", "threshold": 5.0}})


@dataclass(frozen=True)
class DistillConfig:
    name: str = "autodp-augment"  # the family's name: operators use ``model: <name>``
    tasks: tuple[str, ...] = TASKS
    seeds: int = 120  # training seeds
    held_out: int = 24  # held-out seeds the students are evaluated on
    clusters: int = 8  # task types the seeds are balanced over
    per_seed: int = 2  # teacher outputs per seed for the expansion tasks
    base: str = "smollm2"
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(steps=80, learning_rate=5e-4))
    filter: tuple[Any, ...] = FILTER
    seed: int = 0

    def __post_init__(self) -> None:
        for task in self.tasks:
            template(task)  # fails naming an unknown task
        if not self.tasks:
            raise ValueError("distill needs at least one task")
        for name, least in (("seeds", 2), ("held_out", 1), ("clusters", 1), ("per_seed", 1)):
            if getattr(self, name) < least:
                raise ValueError(f"distill {name} is {getattr(self, name)}; it must be at least {least}")
        Strategy.from_data(list(self.filter))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DistillConfig:
        """From the names the DAG's Params and the CLI share (``model``, ``lora_steps`` and the
        fields' own names); names that are not distillation's (``source``, ``store``) are ignored."""
        own = {f.name for f in fields(cls)} - {"lora", "filter"}
        values = {("base" if name == "model" else name): value for name, value in params.items()
                  if ("base" if name == "model" else name) in own}
        if "tasks" in values:
            values["tasks"] = tuple(values["tasks"])
        lora = cls().lora
        return cls(**values, lora=replace(lora, steps=params["lora_steps"]) if params.get("lora_steps") else lora)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tasks": list(self.tasks), "filter": list(self.filter), "lora": self.lora.material()}
