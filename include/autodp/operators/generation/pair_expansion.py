from typing import ClassVar

from pydantic import Field

from autodp.operators.augmented import MODEL_DESCRIPTION, same_text, written
from autodp.operators.base import Generator, OperatorParams, Stage
from autodp.operators.generation.instruction_expansion import sample_seeds
from autodp.text import prompt_text


class PairExpansion(Generator):
    """Adds new records: for sampled seed records the data LLM, or a registered augmentation
    model, writes a new instruction-response pair on the same topic."""

    class Params(OperatorParams):
        new_fraction: float = Field(0.1, gt=0.0, le=1.0)
        max_new: int = Field(500, ge=1, le=100_000)
        seed: int = Field(0, ge=0)
        model: str | None = Field(None, min_length=1, description=MODEL_DESCRIPTION)

    name = "pair_expansion"
    stage: ClassVar[Stage] = "generation"
    needs_llm: ClassVar[bool] = True
    augmentation_task: ClassVar[str] = "pair_expansion"

    def generate(self, con, source, resources):
        seeds = sample_seeds(con, source, resources, self.params.new_fraction, self.params.max_new, self.params.seed)
        pairs = written(self, resources, [(prompt_text(r), r["output"]) for r in seeds],
                        [r["source_row"] for r in seeds])
        return [{"parent_row": r["source_row"], "instruction": p[0], "output": p[1]}
                for r, p in zip(seeds, pairs) if p and not same_text(p[0], prompt_text(r))]
