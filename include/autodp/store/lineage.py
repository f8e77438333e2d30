"""Which datasets a unit of work read and wrote, named as OpenLineage names them.

ingest, apply, a search's publish and curate report what they read and wrote here; outside
``collecting()`` that costs nothing. Under Airflow each autodp task collects while it runs
and hands the result to Airflow's OpenLineage provider (``autodp.orchestration.openlineage``).

Names follow OpenLineage's naming spec: a file in S3 is namespace ``s3://<bucket>`` and
name ``<object path>``; a local file is namespace ``file`` and its absolute path. An
artifact is named by its folder in the store, with its content key as the dataset
version, so an event says exactly which stored bytes a run used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autodp.store import ArtifactStore


@dataclass(frozen=True)
class LineageDataset:
    namespace: str
    name: str
    version: str | None = None  # an artifact's content key
    kind: str | None = None  # the artifact kind (autodp.artifacts), or None for a source file


@dataclass
class Lineage:
    inputs: list[LineageDataset] = field(default_factory=list)
    outputs: list[LineageDataset] = field(default_factory=list)


_current: ContextVar[Lineage | None] = ContextVar("autodp_lineage", default=None)


@contextmanager
def collecting() -> Iterator[Lineage]:
    """Collect what the work inside the block reads and writes."""
    lineage = Lineage()
    token = _current.set(lineage)
    try:
        yield lineage
    finally:
        _current.reset(token)


def read_artifact(store: ArtifactStore, kind: str, key: str) -> None:
    _add("inputs", artifact_dataset(store, kind, key))


def wrote_artifact(store: ArtifactStore, kind: str, key: str) -> None:
    _add("outputs", artifact_dataset(store, kind, key))


def read_source(source: str) -> None:
    namespace, name = dataset_name(source)
    _add("inputs", LineageDataset(namespace, name))


def artifact_dataset(store: ArtifactStore, kind: str, key: str) -> LineageDataset:
    namespace, name = dataset_name(store.location(store.artifact_path(kind, key)))
    return LineageDataset(namespace, name, key, kind)


def dataset_name(location: str) -> tuple[str, str]:
    """(namespace, name) of an ``s3://`` URL, a ``file://`` URL or a local path."""
    if location.startswith("s3://"):
        bucket, _, path = location[len("s3://"):].partition("/")
        return f"s3://{bucket}", path
    if location.startswith("file://"):
        location = location[len("file://"):]
    return "file", str(Path(location).absolute())


def _add(direction: str, dataset: LineageDataset) -> None:
    lineage = _current.get()
    if lineage is not None and dataset not in getattr(lineage, direction):
        getattr(lineage, direction).append(dataset)
