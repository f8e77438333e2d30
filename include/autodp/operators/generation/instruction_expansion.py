from typing import ClassVar

from pydantic import Field

from autodp.llm import conversations
from autodp.operators.augmented import MODEL_DESCRIPTION, same_text, written
from autodp.operators.base import Generator, OperatorParams, Stage
from autodp.text import prompt_text


class InstructionExpansion(Generator):
    """Adds new records: for sampled seed records the data LLM, or a registered augmentation
    model, writes a new instruction on the same topic, then the data LLM answers it."""

    class Params(OperatorParams):
        new_fraction: float = Field(0.1, gt=0.0, le=1.0, description="new records per existing record")
        max_new: int = Field(500, ge=1, le=100_000)
        max_tokens: int = Field(384, ge=16, le=4096)
        seed: int = Field(0, ge=0)
        model: str | None = Field(None, min_length=1, description=MODEL_DESCRIPTION)

    name = "instruction_expansion"
    stage: ClassVar[Stage] = "generation"
    needs_llm: ClassVar[bool] = True
    augmentation_task: ClassVar[str] = "instruction_expansion"

    def generate(self, con, source, resources):
        seeds = sample_seeds(con, source, resources, self.params.new_fraction, self.params.max_new, self.params.seed)
        instructions = written(self, resources, [(prompt_text(r), "") for r in seeds], [r["source_row"] for r in seeds])
        made = [(r, i) for r, i in zip(seeds, instructions) if i and not same_text(i, prompt_text(r))]
        replies = conversations.answers(resources.llm, [i for _, i in made], max_tokens=self.params.max_tokens,
                                        rows=[r["source_row"] for r, _ in made])
        return [{"parent_row": r["source_row"], "instruction": i, "output": a}
                for (r, i), a in zip(made, replies) if a]


def sample_seeds(con, source, resources, fraction: float, most: int, seed: int) -> list[dict]:
    """A deterministic sample of answered records to expand from. PTS-flagged rows are not
    seeds: they are the low-quality ones."""
    total = con.execute(f"select count(*) from {source}").fetchone()[0]
    wanted = min(most, max(1, round(fraction * total)))
    relation = con.sql(f"select source_row, instruction, input, output from {source} "
                       f"where length(trim(output)) > 0 order by hash(source_row, {int(seed)})")
    records = [dict(zip(relation.columns, row)) for row in relation.fetchall()]
    if resources.targets is not None:
        records = [r for r in records if r["source_row"] not in resources.targets]
    return records[:wanted]
