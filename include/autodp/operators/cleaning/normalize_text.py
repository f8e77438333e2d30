from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Mapper, OperatorParams, Stage
from autodp.text import placeholder_sql

FIELDS = ("instruction", "input", "output")


class NormalizeText(Mapper):
    """Cleans the text fields: control characters, literal escape sequences ("\\n" typed
    as two characters), runs of spaces, surrounding whitespace, and the many "no input"
    markers, which become an empty input."""

    class Params(OperatorParams):
        control_characters: bool = Field(True, description="remove C0/C1 control characters except newline and tab")
        literal_escapes: bool = Field(True, description="turn literal \\n and \\t into real ones")
        collapse_spaces: bool = Field(True, description="collapse runs of spaces and tabs into one space")
        empty_input_markers: bool = Field(True, description="'<noinput>', 'No input.', 'N/A', ... in input become ''")

    name = "normalize_text"
    stage: ClassVar[Stage] = "cleaning"

    def rewrites(self) -> dict[str, str]:
        p = self.params
        new = {}
        for column in FIELDS:
            expr = column
            if p.control_characters:
                expr = f"regexp_replace({expr}, '[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x7F-\\x9F]', '', 'g')"
            if p.literal_escapes:
                expr = f"replace(replace(replace({expr}, '\\r\\n', chr(10)), '\\n', chr(10)), '\\t', chr(9))"
            if p.collapse_spaces:
                expr = f"regexp_replace({expr}, '[ \\t]{{2,}}', ' ', 'g')"
            expr = f"regexp_replace({expr}, '^\\s+|\\s+$', '', 'g')"
            if column == "input" and p.empty_input_markers:
                expr = f"case when {placeholder_sql(expr)} then '' else {expr} end"
            new[column] = expr
        return new
