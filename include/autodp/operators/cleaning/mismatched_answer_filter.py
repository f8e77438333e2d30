from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from autodp.operators.base import OperatorParams, ScoredFilter, Stage
from autodp.operators.batch import fetch, prompt_and_response_vectors


class MismatchedAnswerFilter(ScoredFilter):
    """Drops records whose response answers some other question: the prompt's similarity
    to its own response (MiniLM embeddings) is no higher than its similarity to responses
    picked at random from the same dataset.

    The score is that margin in standard deviations, ``(own - mean(others)) / std(others)``,
    so it adapts to the dataset: in a corpus of one domain every pair is somewhat similar,
    and a fixed cosine threshold (``relevance_filter``) cannot separate a swapped answer on
    a neighbouring topic from a terse right one.
    """

    class Params(OperatorParams):
        min_margin: float = Field(1.0, ge=-5.0, le=20.0,
                                  description="drop below this many standard deviations above random pairs")
        references: int = Field(256, ge=16, le=4096, description="random responses each prompt is compared with")
        seed: int = Field(0, ge=0)

    name = "mismatched_answer_filter"
    stage: ClassVar[Stage] = "cleaning"
    needs_embeddings: ClassVar[bool] = True
    detail_label = "margin"
    detail_digits = 2

    def scores(self, con, source, resources):
        records = fetch(con, source)
        return ([r["source_row"] for r in records],
                relevance_margins(records, resources, self.params.references, self.params.seed))

    def drop_reason(self) -> str:
        return f"case when score < {self.params.min_margin} then 'mismatched_answer' end"


def relevance_margins(records: list[dict[str, Any]], resources, references: int = 256,
                      seed: int = 0) -> list[float | None]:
    """Per record: how much more similar its prompt is to its own response than to
    ``references`` responses picked at random, in standard deviations (None for all when
    there are fewer than three records to compare)."""
    if len(records) < 3:
        return [None] * len(records)
    prompts, outputs = prompt_and_response_vectors(records, resources)
    own = np.sum(prompts * outputs, axis=1)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(records), size=min(references, len(records)), replace=False)
    others = prompts @ outputs[picked].T  # (rows, references)
    others[picked == np.arange(len(records))[:, None]] = np.nan  # a record is not its own reference
    margin = (own - np.nanmean(others, axis=1)) / np.maximum(np.nanstd(others, axis=1), 1e-6)
    return margin.astype(np.float64).tolist()
