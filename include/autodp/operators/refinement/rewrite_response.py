from typing import ClassVar

from pydantic import Field

from autodp.llm import conversations
from autodp.operators.base import BatchRewrite, OperatorParams, Stage
from autodp.operators.batch import fetch
from autodp.text import prompt_text


class RewriteResponse(BatchRewrite):
    """Rewrites responses with the data LLM and keeps a rewrite only when the LLM judges it
    better than the original in both presentation orders (CLEAR's careful correction)."""

    class Params(OperatorParams):
        max_tokens: int = Field(384, ge=16, le=4096)

    name = "rewrite_response"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "refinement"
    needs_llm: ClassVar[bool] = True
    field: ClassVar[str] = "output"

    def new_values(self, con, source, resources):
        records = fetch(con, source, resources)
        prompts = [prompt_text(r) for r in records]
        asks = [f"Improve this response so it answers the instruction correctly, completely and clearly. "
                f"Reply with the improved response only.\n\nInstruction:\n{q}\n\nResponse:\n{r['output']}"
                for q, r in zip(prompts, records)]
        candidates = conversations.answers(resources.llm, asks, max_tokens=self.params.max_tokens,
                                           rows=[r["source_row"] for r in records])
        judged = [(q, r["output"], c) for q, r, c in zip(prompts, records, candidates) if c]
        wins = iter(conversations.prefers_candidate(resources.llm, judged, rows=[
            r["source_row"] for r, c in zip(records, candidates) if c]))
        return [r["source_row"] for r in records], [c if c and next(wins) else None for c in candidates]

    def change_reason(self) -> str:
        return "response_rewritten"
