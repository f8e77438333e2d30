from typing import ClassVar

from pydantic import Field

from autodp.llm import conversations
from autodp.operators.base import BatchRewrite, OperatorParams, Stage
from autodp.operators.batch import fetch
from autodp.text import blank_sql, placeholder_sql, prompt_text


class FillMissingResponse(BatchRewrite):
    """Writes a response with the data LLM for records whose response is empty or a
    placeholder, instead of dropping them."""

    class Params(OperatorParams):
        max_tokens: int = Field(384, ge=16, le=4096)
        include_placeholders: bool = Field(True)

    name = "fill_missing_response"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "generation"
    needs_llm: ClassVar[bool] = True
    field: ClassVar[str] = "output"

    def new_values(self, con, source, resources):
        missing = blank_sql("output")
        if self.params.include_placeholders:
            missing += f" or {placeholder_sql('output')}"
        records = fetch(con, source, resources, where=missing)
        written = conversations.answers(resources.llm, [prompt_text(r) for r in records],
                                        max_tokens=self.params.max_tokens, rows=[r["source_row"] for r in records])
        return [r["source_row"] for r in records], [w or None for w in written]

    def change_reason(self) -> str:
        return "response_filled"
