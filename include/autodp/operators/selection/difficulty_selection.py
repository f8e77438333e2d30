import math
from typing import ClassVar, Literal

from pydantic import Field

from autodp.operators.base import OperatorParams, ScoredFilter, Stage
from autodp.operators.batch import fetch
from autodp.text import prompt_text

TEMPLATE = "### Instruction:\n{prompt}\n\n### Response:\n"


class DifficultySelection(ScoredFilter):
    """Keeps the records that teach the most, by the base model's likelihoods:
    instruction-following difficulty (IFD: perplexity of the response given the
    instruction over its perplexity alone; above 1 the instruction does not help and the
    record is dropped) or plain response perplexity."""

    class Params(OperatorParams):
        measure: Literal["ifd", "perplexity"] = Field("ifd")
        keep_fraction: float = Field(0.7, gt=0.0, le=1.0, description="keep this share, hardest first")
        drop_ifd_above_one: bool = Field(True)

    name = "difficulty_selection"
    stage: ClassVar[Stage] = "selection"

    def scores(self, con, source, resources):
        records = fetch(con, source, resources)
        values = []
        for record in records:
            conditional = resources.scorer.mean_nll(TEMPLATE.format(prompt=prompt_text(record)), record["output"])
            if self.params.measure == "perplexity":
                values.append(math.exp(conditional))
            else:
                alone = resources.scorer.mean_nll("", record["output"])
                values.append(math.exp(conditional - alone))
        return [r["source_row"] for r in records], values

    def features(self) -> dict[str, str]:
        return {"_rank": "case when score is null then null "
                         "else percent_rank() over (order by score desc nulls last) end"}

    def drop_reason(self) -> str:
        cases = []
        if self.params.measure == "ifd" and self.params.drop_ifd_above_one:
            cases.append("when score > 1 then 'instruction_does_not_help'")
        cases.append(f"when _rank >= {self.params.keep_fraction} then 'too_easy'")
        return f"case {' '.join(cases)} end"

    def drop_detail(self) -> str:
        return f"'{self.params.measure} ' || round(score, 3)"
