from typing import ClassVar, Literal

from pydantic import Field

from autodp.llm import conversations
from autodp.operators.base import OperatorParams, ScoredFilter, Stage
from autodp.operators.batch import fetch
from autodp.text import prompt_text


class QualityScoreFilter(ScoredFilter):
    """Drops low-quality records by a quality score: an LLM rater's 1-10 score, the
    target-selection classifier's probability of good quality, or autodp's quality scorer
    (rule verdicts, relevance, likelihood; ``autodp score``). Keeps records scoring at or
    above a threshold, or the top fraction. Unscored records are kept."""

    class Params(OperatorParams):
        scorer: Literal["llm", "classifier", "signals"] = Field(
            "llm", description="who scores: the data LLM, the PTS classifier, or the quality scorer's signals")
        mode: Literal["threshold", "top_fraction"] = Field("threshold")
        threshold: float = Field(6.0, ge=0.0, le=10.0,
                                 description="llm: 1-10 scale; classifier and signals: scaled to 0-10")
        keep_fraction: float = Field(0.8, gt=0.0, le=1.0, description="for top_fraction")

    name = "quality_score_filter"
    stage: ClassVar[Stage] = "selection"
    needs_llm: ClassVar[bool] = True
    detail_label = "score"
    detail_digits = 2

    def scores(self, con, source, resources):
        if self.params.scorer == "classifier":
            if resources.quality_scores is None:
                raise ValueError("quality_score_filter with scorer 'classifier' needs target selection's scores")
            return list(resources.quality_scores), [10.0 * score for score in resources.quality_scores.values()]
        records = fetch(con, source, resources)
        if self.params.scorer == "signals":
            return [r["source_row"] for r in records], _signal_scores(con, source, records, resources)
        rated = conversations.rate(resources.llm, [(prompt_text(r), r["output"]) for r in records],
                                   rows=[r["source_row"] for r in records])
        return [r["source_row"] for r in records], [None if s is None else float(s) for s in rated]

    def is_row_local(self) -> bool:
        """A threshold on the LLM's or the classifier's score is per record; a top fraction
        ranks the dataset, and the quality scorer's signals compare records."""
        return self.params.mode == "threshold" and self.params.scorer != "signals"

    def features(self) -> dict[str, str]:
        return {"_rank": "case when score is null then null "
                         "else percent_rank() over (order by score desc nulls last) end"}

    def drop_reason(self) -> str:
        p = self.params
        if p.mode == "threshold":
            return f"case when score < {p.threshold} then 'low_quality_score' end"
        return f"case when _rank >= {p.keep_fraction} then 'below_top_quality_fraction' end"


def _signal_scores(con, source: str, records: list[dict], resources) -> list[float | None]:
    """The quality scorer over the table (its rules and relevance compare each record with
    the others), its expensive signals only on ``records``; scaled to 0-10."""
    import tempfile
    from pathlib import Path

    from autodp.operators.quality import score_records

    with tempfile.TemporaryDirectory(prefix="autodp-quality-") as tmp:
        path = Path(tmp) / "records.parquet"
        con.execute(f"copy (select * from {source}) to '{path}' (format parquet)")
        table, _ = score_records(str(path), resources, only_rows=frozenset(r["source_row"] for r in records))
    by_row = dict(zip(table["source_row"].to_pylist(), table["score"].to_pylist()))
    return [None if by_row.get(r["source_row"]) is None else 10.0 * by_row[r["source_row"]] for r in records]
