from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Filter, OperatorParams, Stage
from autodp.text import blank_sql, placeholder_sql


class DropEmptyOutput(Filter):
    """Drops records whose output is empty or a placeholder (<nooutput>, N/A, None, ...).

    Empty answers are MedQuAD's largest defect class and Alpaca's `<nooutput>` rows are
    listed in the cleaned-Alpaca defect taxonomy.
    """

    class Params(OperatorParams):
        drop_placeholders: bool = Field(True, description="also drop placeholder outputs such as '<nooutput>' or 'N/A'")
        drop_empty_instruction: bool = Field(True, description="also drop records whose instruction is empty")

    name = "drop_empty_output"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def drop_reason(self) -> str:
        cases = [f"when {blank_sql('output')} then 'empty_output'"]
        if self.params.drop_placeholders:
            cases.append(f"when {placeholder_sql('output')} then 'placeholder_output'")
        if self.params.drop_empty_instruction:
            cases.append(f"when {blank_sql('instruction')} then 'empty_instruction'")
        return "case " + " ".join(cases) + " end"
