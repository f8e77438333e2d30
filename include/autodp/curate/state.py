"""A curate run's state as it passes from step to step (and, in Airflow, through XCom as
plain JSON): small values with keys into the store, never data.

- ``CurateRun``: what ``ingest`` established: the recipe and the new data's dataset;
- the sharded apply's ``Planned``, ``ShardTask`` and ``Advanced`` (``autodp.execution.shards``);
- ``Curated``: what ``publish`` published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autodp.state import JsonState


@dataclass(frozen=True)
class CurateRun(JsonState):
    recipe: str
    recipe_key: str  # the approval the run started with
    source: str
    dataset_key: str  # the new data, ingested
    rows_in: int
    rows_quarantined: int


@dataclass(frozen=True)
class Curated(JsonState):
    curated_key: str
    output_dataset_key: str
    recipe_key: str
    rows: dict[str, Any]  # ingested, quarantined, in, out
    shards: int
    drift: list[str] = field(default_factory=list)  # the drift breaches, one line each (warn policy)
