from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from autodp.operators.base import OperatorParams, ScoredFilter, Stage
from autodp.operators.batch import fetch
from autodp.text import prompt_text


class DiversitySelection(ScoredFilter):
    """Keeps a diverse subset of a target size over MiniLM embeddings of the prompts:
    k-center greedy (each pick the farthest from those already picked) or cluster-balanced
    (k-means, then the records nearest each centroid, round robin)."""

    class Params(OperatorParams):
        keep_fraction: float = Field(0.5, gt=0.0, le=1.0)
        method: Literal["k_center", "cluster_balanced"] = Field("k_center")
        clusters: int = Field(16, ge=2, le=1024, description="for cluster_balanced")
        seed: int = Field(0, ge=0)

    name = "diversity_selection"
    stage: ClassVar[Stage] = "selection"
    needs_embeddings: ClassVar[bool] = True
    score_type = "bool"  # selected or not

    def scores(self, con, source, resources):
        records = fetch(con, source)
        keep = np.zeros(len(records), dtype=bool)
        target = max(1, round(self.params.keep_fraction * len(records))) if records else 0
        if records:
            vectors = resources.embedder.encode([prompt_text(r) for r in records])
            chosen = (k_center(vectors, target, self.params.seed) if self.params.method == "k_center"
                      else cluster_balanced(vectors, target, self.params.clusters, self.params.seed))
            keep[chosen] = True
        return [r["source_row"] for r in records], keep.tolist()

    def drop_reason(self) -> str:
        return "case when not score then 'not_selected_for_diversity' end"


def k_center(vectors: np.ndarray, count: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(vectors)))]
    distance = 1.0 - vectors @ vectors[chosen[0]]
    while len(chosen) < count:
        pick = int(np.argmax(distance))
        chosen.append(pick)
        distance = np.minimum(distance, 1.0 - vectors @ vectors[pick])
    return chosen


def cluster_balanced(vectors: np.ndarray, count: int, clusters: int, seed: int) -> list[int]:
    from sklearn.cluster import KMeans

    clusters = min(clusters, len(vectors))
    model = KMeans(n_clusters=clusters, random_state=seed, n_init=3).fit(vectors)
    distance = np.linalg.norm(vectors - model.cluster_centers_[model.labels_], axis=1)
    queues = [list(np.flatnonzero(model.labels_ == c)[np.argsort(distance[model.labels_ == c])])
              for c in range(clusters)]
    chosen: list[int] = []
    while len(chosen) < count:
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(int(queue.pop(0)))
    return chosen
