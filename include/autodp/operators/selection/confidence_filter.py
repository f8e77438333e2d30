from typing import ClassVar

import numpy as np
from pydantic import Field

from autodp.llm import conversations
from autodp.operators.base import OperatorParams, ScoredFilter, Stage
from autodp.operators.batch import fetch
from autodp.text import prompt_text


class ConfidenceFilter(ScoredFilter):
    """Drops records the data LLM is not confident are right, in the style of CLEAR:
    confidence mixes consistency (how close the record's response is to responses the
    model samples for the same instruction, by embedding similarity) with self-reflection
    (the model's own verdict that the response is correct)."""

    class Params(OperatorParams):
        threshold: float = Field(0.5, ge=0.0, le=1.0, description="drop below this confidence")
        samples: int = Field(3, ge=1, le=10, description="responses sampled per instruction")
        consistency_weight: float = Field(0.5, ge=0.0, le=1.0)
        seed: int = Field(0, ge=0)

    name = "confidence_filter"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "selection"
    needs_llm: ClassVar[bool] = True
    needs_embeddings: ClassVar[bool] = True
    detail_label = "confidence"

    def scores(self, con, source, resources):
        p = self.params
        records = fetch(con, source, resources)
        prompts = [prompt_text(r) for r in records]
        reflection = conversations.verdicts(resources.llm, [(q, r["output"]) for q, r in zip(prompts, records)],
                                            rows=[r["source_row"] for r in records])
        consistency = np.zeros(len(records))
        if records:
            own = resources.embedder.encode([r["output"] for r in records])
            for k in range(p.samples):
                sampled = conversations.answers(resources.llm, prompts, temperature=0.8, seed=p.seed + k,
                                                rows=[r["source_row"] for r in records])
                consistency += np.sum(own * resources.embedder.encode(sampled), axis=1)
            consistency = np.clip(consistency / p.samples, 0.0, 1.0)
        confidence = [None if v is None else p.consistency_weight * c + (1 - p.consistency_weight) * v
                      for c, v in zip(consistency, reflection)]
        return [r["source_row"] for r in records], confidence

    def drop_reason(self) -> str:
        return f"case when score < {self.params.threshold} then 'low_confidence' end"
