from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Filter, OperatorParams, Stage
from autodp.tables.engine import sql_literal

# "\n##\n18. Instruction: ..." and "### Instruction:" blocks glued into one record.
MARKER = r"(^|\n)\s*(#{2,}\s*\n|#{0,3}\s*(\d+\.\s*)?(Instruction|Input|Output|Response)\s*:)"


class MergedInstructionFilter(Filter):
    """Drops records into which other instruction/response pairs were merged, such as an
    output that continues with "##\\n18. Instruction: ... 18. Output: ..." (cleaned-Alpaca
    defect taxonomy)."""

    class Params(OperatorParams):
        check_instruction: bool = Field(True, description="look for merged pairs in the instruction too")

    name = "merged_instruction_filter"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def drop_reason(self) -> str:
        checks = [f"when regexp_matches(output, {sql_literal(MARKER)}, 'i') then 'merged_in_output'"]
        if self.params.check_instruction:
            checks.append(f"when regexp_matches(instruction, {sql_literal(MARKER)}, 'i') then 'merged_in_instruction'")
        return f"case {' '.join(checks)} end"
