from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from autodp.operators.base import OperatorParams, SignatureDeduplicator, Stage
from autodp.operators.batch import fetch, write_table
from autodp.operators.cleaning.near_dedup import signature_matrix, union_find
from autodp.text import prompt_text

CLUSTER_SIZE = 256


class SemanticDedup(SignatureDeduplicator):
    """Keeps one record per group of semantic duplicates: MiniLM embeddings, k-means into
    clusters of a few hundred (as SemDeDup does), then pairs within a cluster whose cosine
    similarity reaches the threshold are joined into groups."""

    class Params(OperatorParams):
        threshold: float = Field(0.95, ge=0.5, le=1.0, description="cosine similarity of duplicates")
        text: Literal["record", "prompt", "output"] = Field("prompt")
        seed: int = Field(0, ge=0)

    name = "semantic_dedup"
    stage: ClassVar[Stage] = "cleaning"
    needs_embeddings: ClassVar[bool] = True
    reason: ClassVar[str] = "semantic_duplicate"

    def write_signatures(self, con, source, resources, path):
        """The MiniLM embedding (unit vector) of each record's text."""
        records = fetch(con, source)
        vectors = np.asarray(resources.embedder.encode([_text(r, self.params.text) for r in records]), np.float32)
        dimensions = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else 1
        signature = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dimensions)
        pq.write_table(pa.table({"source_row": pa.array([r["source_row"] for r in records], pa.int64()),
                                 "signature": signature}), path)
        return len(records)

    def groups_from(self, con, signatures):
        """Every embedding at once: k-means needs them all (semantic dedup is for data an
        embedding model can get through, far below the rule operators' scale)."""
        signatures = con.execute(f"select source_row, signature from {signatures} order by source_row").to_arrow_table()
        rows = signatures.column("source_row").to_numpy()
        vectors = signature_matrix(signatures.column("signature"))
        pairs = similar_pairs(vectors, self.params.threshold, self.params.seed)
        members = union_find([(int(rows[a]), int(rows[b])) for a, b in pairs])
        write_table(con, "_semantic_groups", {"source_row": pa.array(list(members), pa.int64()),
                                              "group_id": pa.array(list(members.values()), pa.int64())})
        return "select source_row, group_id from _semantic_groups"


def _text(record, which: str) -> str:
    if which == "output":
        return record["output"]
    if which == "prompt":
        return prompt_text(record)
    return f"{prompt_text(record)}\n{record['output']}"


def similar_pairs(vectors: np.ndarray, threshold: float, seed: int) -> list[tuple[int, int]]:
    """Index pairs with cosine >= threshold, compared within k-means clusters."""
    count = len(vectors)
    if count < 2:
        return []
    if count <= CLUSTER_SIZE:
        labels = np.zeros(count, dtype=int)
    else:
        from sklearn.cluster import MiniBatchKMeans

        clusters = max(2, count // CLUSTER_SIZE)
        labels = MiniBatchKMeans(n_clusters=clusters, random_state=seed, n_init=3, batch_size=2048).fit_predict(vectors)
    pairs = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        block = vectors[members] @ vectors[members].T
        first, second = np.nonzero(np.triu(block >= threshold, k=1))
        pairs.extend(zip(members[first].tolist(), members[second].tolist()))
    return pairs
