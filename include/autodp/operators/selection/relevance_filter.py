from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from autodp.operators.base import Filter, OperatorParams, Stage
from autodp.operators.batch import fetch, prompt_text, write_table


class RelevanceFilter(Filter):
    """Drops records whose response is unrelated to its instruction: cosine similarity of
    the MiniLM embeddings of prompt and response below a threshold."""

    class Params(OperatorParams):
        min_similarity: float = Field(0.2, ge=-1.0, le=1.0)

    name = "relevance_filter"
    stage: ClassVar[Stage] = "selection"
    needs_embeddings: ClassVar[bool] = True

    def prepare(self, con, source, resources):
        records = fetch(con, source)
        prompts = resources.embedder.encode([prompt_text(r) for r in records])
        outputs = resources.embedder.encode([r["output"] for r in records])
        similarity = np.sum(prompts * outputs, axis=1) if records else np.zeros(0)
        write_table(con, "_relevance", {"source_row": pa.array([r["source_row"] for r in records], pa.int64()),
                                        "similarity": pa.array(similarity.astype(np.float64))})

    def joins(self) -> str:
        return "left join _relevance using (source_row)"

    def drop_reason(self) -> str:
        return f"case when similarity < {self.params.min_similarity} then 'irrelevant_response' end"

    def drop_detail(self) -> str:
        return "'similarity ' || round(similarity, 3)"
