"""The distillation's state as it passes from step to step (and, in Airflow, through XCom
as plain JSON): small values with keys into the store, never data.

- ``Seeds``: what ``seeds`` chose, the training and held-out seed datasets;
- ``TaskRun``: one task of the family on its way through ``teacher``,
  ``filter_teacher_data``, ``train``, ``evaluate`` and ``register``, each step filling in
  its own field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autodp.state import JsonState


@dataclass(frozen=True)
class Seeds(JsonState):
    seeds_key: str
    held_out_key: str
    dataset_key: str
    distinct_instructions: int
    clusters: int
    seeds: int
    held_out: int
    per_cluster: dict[str, Any]


@dataclass(frozen=True)
class TaskRun(JsonState):
    task: str
    teacher: dict[str, Any] | None = None  # teacher_key, records, calls, rejected
    filter: dict[str, Any] | None = None  # filtered_key, rows_in, rows_out, steps
    adapter: dict[str, Any] | None = None  # the LoRA adapter's summary and student_data_key
    evaluation: dict[str, Any] | None = None  # the student against the teacher (distill.evaluation)
    entry: dict[str, Any] | None = None  # the registered augmentation model

    def to_dict(self) -> dict[str, Any]:
        """The steps done so far (the fields still empty are left out)."""
        return {name: value for name, value in super().to_dict().items() if value is not None}
