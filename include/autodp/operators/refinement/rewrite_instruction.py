from typing import ClassVar

from pydantic import Field

from autodp.llm import conversations
from autodp.operators.base import BatchRewrite, OperatorParams, Stage
from autodp.operators.batch import fetch


class RewriteInstruction(BatchRewrite):
    """Rewrites vague instructions (few words, or every instruction when max_words is 0)
    into clear, specific ones that the existing response answers; keeps a rewrite only when
    the LLM prefers it in both presentation orders."""

    class Params(OperatorParams):
        max_words: int = Field(6, ge=0, le=200, description="rewrite instructions up to this many words; 0: all")
        max_tokens: int = Field(128, ge=16, le=1024)

    name = "rewrite_instruction"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "refinement"
    needs_llm: ClassVar[bool] = True
    field: ClassVar[str] = "instruction"

    def new_values(self, con, source, resources):
        vague = "true" if self.params.max_words == 0 else \
            f"len(string_split(trim(instruction), ' ')) <= {self.params.max_words}"
        records = fetch(con, source, resources, where=vague)
        asks = [f"Rewrite this instruction so it is clear and specific, and so that the response below "
                f"answers it. Reply with the instruction only.\n\nInstruction:\n{r['instruction']}\n\n"
                f"Response:\n{r['output']}" for r in records]
        candidates = conversations.answers(resources.llm, asks, max_tokens=self.params.max_tokens,
                                           rows=[r["source_row"] for r in records])
        judged = [(r["output"], r["instruction"], c) for r, c in zip(records, candidates) if c]
        wins = iter(conversations.prefers_candidate(resources.llm, judged, what="instruction", rows=[
            r["source_row"] for r, c in zip(records, candidates) if c]))
        return [r["source_row"] for r in records], [c if c and next(wins) else None for c in candidates]

    def change_reason(self) -> str:
        return "instruction_rewritten"
