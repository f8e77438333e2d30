from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from autodp.operators import llm_calls
from autodp.operators.base import Mapper, OperatorParams, Stage
from autodp.operators.batch import fetch, prompt_text, write_table
from autodp.text import placeholder_sql


class FillMissingResponse(Mapper):
    """Writes a response with the data LLM for records whose response is empty or a
    placeholder, instead of dropping them."""

    class Params(OperatorParams):
        max_tokens: int = Field(384, ge=16, le=4096)
        include_placeholders: bool = Field(True)

    name = "fill_missing_response"
    stage: ClassVar[Stage] = "generation"
    needs_llm: ClassVar[bool] = True

    def prepare(self, con, source, resources):
        missing = "length(trim(output)) = 0"
        if self.params.include_placeholders:
            missing += f" or {placeholder_sql('output')}"
        records = fetch(con, source, resources, where=missing)
        written = llm_calls.answers(resources.llm, [prompt_text(r) for r in records], max_tokens=self.params.max_tokens)
        write_table(con, "_filled", {"source_row": pa.array([r["source_row"] for r in records], pa.int64()),
                                     "new_output": pa.array([w or None for w in written], pa.string())})

    def joins(self) -> str:
        return "left join _filled using (source_row)"

    def rewrites(self) -> dict[str, str]:
        return {"output": "coalesce(new_output, output)"}

    def change_reason(self) -> str:
        return "response_filled"
