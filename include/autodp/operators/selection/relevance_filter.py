from typing import ClassVar

import numpy as np
from pydantic import Field

from autodp.operators.base import OperatorParams, ScoredFilter, Stage
from autodp.operators.batch import fetch, prompt_and_response_vectors


class RelevanceFilter(ScoredFilter):
    """Drops records whose response is unrelated to its instruction: cosine similarity of
    the MiniLM embeddings of prompt and response below a threshold."""

    class Params(OperatorParams):
        min_similarity: float = Field(0.2, ge=-1.0, le=1.0)

    name = "relevance_filter"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "selection"
    needs_embeddings: ClassVar[bool] = True
    detail_label = "similarity"

    def scores(self, con, source, resources):
        records = fetch(con, source)
        prompts, outputs = prompt_and_response_vectors(records, resources)
        return [r["source_row"] for r in records], np.sum(prompts * outputs, axis=1).astype(np.float64).tolist()

    def drop_reason(self) -> str:
        return f"case when score < {self.params.min_similarity} then 'irrelevant_response' end"
