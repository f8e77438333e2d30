"""Seed instructions for distillation, balanced over task types.

The types are clusters of the seeds' MiniLM embeddings (k-means); seeds are taken from
the clusters in turn, so no kind of instruction dominates what the teacher annotates.
The first ``held_out`` picks of that balanced order are the held-out seeds the students
are evaluated on; the next ``count`` are the training seeds. Both are stored as datasets.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.hashing import content_key
from autodp.ingest.ingest import RECORDS_SCHEMA
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.text import blank_sql, prompt_text

SEEDS_VERSION = "1"


def choose_seeds(store: ArtifactStore, dataset_key: str, count: int, held_out: int, clusters: int, seed: int,
                 resources: Resources | None = None) -> dict[str, Any]:
    """Store the training and held-out seed datasets of ``dataset_key``; their keys and how
    the seeds spread over the clusters."""
    resources = (resources or Resources()).using(store)
    material = {"dataset": dataset_key, "count": count, "held_out": held_out, "clusters": clusters, "seed": seed,
                "embeddings": "all-MiniLM-L6-v2"}
    key = content_key("augmentation-seeds", SEEDS_VERSION, material)
    if store.has(DATASETS, key):
        return store.manifest(DATASETS, key)["summary"]
    records = _answerable(store, dataset_key, resources)
    if len(records) < held_out + 2:
        raise ValueError(f"dataset {dataset_key} has {len(records)} distinct answered instructions; "
                         f"distillation needs at least {held_out + 2} ({held_out} held out)")
    labels = _clusters([prompt_text(r) for r in records], clusters, seed, resources)
    order = balanced_order(labels, seed)
    held, train = order[:held_out], order[held_out:held_out + count]
    held_key = content_key("augmentation-seeds-held-out", SEEDS_VERSION, material)
    summary = {"seeds_key": key, "held_out_key": held_key, "dataset_key": dataset_key,
               "distinct_instructions": len(records), "clusters": int(max(labels) + 1),
               "seeds": len(train), "held_out": len(held),
               "per_cluster": {"seeds": _spread(labels, train), "held_out": _spread(labels, held)}}
    provenance = {"step": "augmentation_seeds", "version": SEEDS_VERSION, **material}
    with tempfile.TemporaryDirectory(prefix="autodp-seeds-") as tmp:
        for name, chosen, artifact in (("held", held, held_key), ("train", train, key)):
            path = Path(tmp) / name
            path.mkdir()
            write_records(path / RECORDS_FILE, [{**records[i], "metadata": json.dumps({"cluster": int(labels[i])})}
                                                for i in sorted(chosen, key=lambda i: records[i]["source_row"])])
            store.publish(DATASETS, artifact, {RECORDS_FILE: path / RECORDS_FILE}, provenance=provenance,
                          summary=summary)
    return summary


def balanced_order(labels: list[int], seed: int) -> list[int]:
    """Indices taken from each cluster in turn (largest first), each cluster in a seeded order."""
    import random

    rng = random.Random(seed)
    members: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        members.setdefault(label, []).append(index)
    queues = [rng.sample(m, len(m)) for _, m in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    order = []
    while any(queues):
        for queue in queues:
            if queue:
                order.append(queue.pop())
    return order


def read_records(store: ArtifactStore, dataset_key: str, settings=None) -> list[dict[str, Any]]:
    with engine.connect(store, settings=settings) as con:
        relation = con.sql(f"select * from read_parquet('{store.file_location(DATASETS, dataset_key, RECORDS_FILE)}') "
                           "order by source_row")
        return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


def write_records(path: Path, records: list[dict[str, Any]]) -> Path:
    """Canonical records (record_id, the three texts, metadata as JSON text, source_row) as Parquet."""
    pq.write_table(pa.Table.from_pylist([{name: r.get(name, "") for name in RECORDS_SCHEMA.names} for r in records],
                                        schema=RECORDS_SCHEMA), path)
    return path


def _answerable(store: ArtifactStore, dataset_key: str, resources: Resources) -> list[dict[str, Any]]:
    """The dataset's records with an instruction and a response, one per distinct prompt."""
    with engine.connect(store, settings=resources.settings) as con:
        relation = con.sql(f"""
            select * from read_parquet('{store.file_location(DATASETS, dataset_key, RECORDS_FILE)}')
            where not {blank_sql('instruction')} and not {blank_sql('output')}
            qualify row_number() over (partition by lower(trim(instruction)), lower(trim(input))
                                       order by source_row) = 1
            order by source_row""")
        return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


def _clusters(texts: list[str], clusters: int, seed: int, resources: Resources) -> list[int]:
    from sklearn.cluster import KMeans

    k = max(1, min(clusters, len(texts) // 2))
    if k == 1:
        return [0] * len(texts)
    vectors = resources.embedder.encode(texts)
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vectors).tolist()


def _spread(labels: list[int], chosen: list[int]) -> dict[str, int]:
    counts = Counter(labels[i] for i in chosen)
    return {str(label): counts[label] for label in sorted(counts)}
