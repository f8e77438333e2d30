from typing import ClassVar

from pydantic import Field

from autodp.llm import conversations
from autodp.operators.augmented import MODEL_DESCRIPTION, same_text, written
from autodp.operators.base import BatchRewrite, OperatorParams, Stage
from autodp.operators.batch import fetch


class InstructionRefinement(BatchRewrite):
    """Refines instructions into clearer, more specific and complete ones that keep what
    they ask for, by the data LLM or a registered augmentation model; keeps a refinement
    only when the data LLM prefers it, for the record's response, in both presentation
    orders."""

    class Params(OperatorParams):
        max_words: int = Field(0, ge=0, le=200, description="refine instructions up to this many words; 0: all")
        model: str | None = Field(None, min_length=1, description=MODEL_DESCRIPTION)

    name = "instruction_refinement"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "refinement"
    needs_llm: ClassVar[bool] = True
    field: ClassVar[str] = "instruction"
    augmentation_task: ClassVar[str] = "instruction_refinement"

    def new_values(self, con, source, resources):
        short = "true" if self.params.max_words == 0 else \
            f"len(string_split(trim(instruction), ' ')) <= {self.params.max_words}"
        records = fetch(con, source, resources, where=short)
        rows = [r["source_row"] for r in records]
        refined = written(self, resources, [(r["instruction"], "") for r in records], rows)
        candidates = [c if c and not same_text(c, r["instruction"]) else None for r, c in zip(records, refined)]
        judged = [(r["output"], r["instruction"], c) for r, c in zip(records, candidates) if c]
        wins = iter(conversations.prefers_candidate(resources.llm, judged, what="instruction",
                                                    rows=[row for row, c in zip(rows, candidates) if c]))
        return rows, [c if c and next(wins) else None for c in candidates]

    def change_reason(self) -> str:
        return "instruction_refined"
