from typing import ClassVar, Literal

import pyarrow as pa
from pydantic import Field

from autodp.operators import llm_calls
from autodp.operators.base import Filter, OperatorParams, Stage
from autodp.operators.batch import fetch, prompt_text, write_table


class QualityScoreFilter(Filter):
    """Drops low-quality records by a quality score: an LLM rater's 1-10 score, or the
    target-selection classifier's probability of good quality. Keeps records scoring at or
    above a threshold, or the top fraction. Unscored records are kept."""

    class Params(OperatorParams):
        scorer: Literal["llm", "classifier"] = Field("llm", description="who scores: the data LLM or the PTS classifier")
        mode: Literal["threshold", "top_fraction"] = Field("threshold")
        threshold: float = Field(6.0, ge=0.0, le=10.0, description="llm: 1-10 scale; classifier: scaled to 0-10")
        keep_fraction: float = Field(0.8, gt=0.0, le=1.0, description="for top_fraction")


    name = "quality_score_filter"
    stage: ClassVar[Stage] = "selection"
    needs_llm: ClassVar[bool] = True

    def prepare(self, con, source, resources):
        if self.params.scorer == "classifier":
            if resources.quality_scores is None:
                raise ValueError("quality_score_filter with scorer 'classifier' needs target selection's scores")
            rows = list(resources.quality_scores.items())
            scores = [10.0 * score for _, score in rows]
        else:
            records = fetch(con, source, resources)
            rated = llm_calls.rate(resources.llm, [(prompt_text(r), r["output"]) for r in records])
            rows = [(r["source_row"], s) for r, s in zip(records, rated)]
            scores = [None if s is None else float(s) for _, s in rows]
        write_table(con, "_quality", {"source_row": pa.array([r for r, _ in rows], pa.int64()),
                                      "quality": pa.array(scores, pa.float64())})

    def joins(self) -> str:
        return "left join _quality using (source_row)"

    def features(self) -> dict[str, str]:
        return {"_rank": "case when quality is null then null "
                         "else percent_rank() over (order by quality desc nulls last) end"}

    def drop_reason(self) -> str:
        p = self.params
        if p.mode == "threshold":
            return f"case when quality < {p.threshold} then 'low_quality_score' end"
        return f"case when _rank >= {p.keep_fraction} then 'below_top_quality_fraction' end"

    def drop_detail(self) -> str:
        return "'score ' || round(quality, 2)"
