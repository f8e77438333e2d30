from typing import ClassVar

from pydantic import Field, model_validator

from autodp.operators.base import Filter, OperatorParams, Stage


class LengthBounds(Filter):
    """Drops records whose instruction or output length (characters) is out of bounds."""

    class Params(OperatorParams):
        min_instruction_chars: int = Field(3, ge=0, le=100_000)
        max_instruction_chars: int = Field(8_000, ge=1, le=1_000_000)
        min_output_chars: int = Field(1, ge=0, le=100_000)
        max_output_chars: int = Field(16_000, ge=1, le=1_000_000)

        @model_validator(mode="after")
        def _ordered(self):
            if self.min_instruction_chars > self.max_instruction_chars:
                raise ValueError("min_instruction_chars is above max_instruction_chars")
            if self.min_output_chars > self.max_output_chars:
                raise ValueError("min_output_chars is above max_output_chars")
            return self

    name = "length_bounds"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def drop_reason(self) -> str:
        p = self.params
        return f"""case
            when length(instruction) < {p.min_instruction_chars} then 'instruction_too_short'
            when length(instruction) > {p.max_instruction_chars} then 'instruction_too_long'
            when length(output) < {p.min_output_chars} then 'output_too_short'
            when length(output) > {p.max_output_chars} then 'output_too_long'
        end"""
