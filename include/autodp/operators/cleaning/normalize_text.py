from typing import ClassVar

from pydantic import Field

from autodp.hashing import STRIP_SQL
from autodp.operators.base import Mapper, OperatorParams, Stage
from autodp.tables.engine import sql_literal
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
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def rewrites(self) -> dict[str, str]:
        if not self.params.empty_input_markers:
            return {}
        return {"input": f"case when {placeholder_sql('input')} then '' else input end"}

    def rewrite_stages(self) -> list[dict[str, str]]:
        """One stage per kind of fix, each run only on the texts that show the need."""
        p = self.params
        passes = []
        if p.control_characters:
            control = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"
            passes.append((control, f"regexp_replace({{c}}, {sql_literal(control)}, '', 'g')"))
        if p.literal_escapes:
            passes.append((r"\\[nrt]", "replace(replace(replace({c}, '\\r\\n', chr(10)), '\\n', chr(10)), '\\t', chr(9))"))
        if p.collapse_spaces:
            passes.append((r"[ \t]{2,}", "regexp_replace({c}, '[ \t]{{2,}}', ' ', 'g')"))
        passes.append((r"^\s|\s$", f"trim({{c}}, {STRIP_SQL})"))
        stages = [self.rewrites()] if self.params.empty_input_markers else []
        for sign, rewrite in passes:
            stages.append({c: f"case when regexp_matches({c}, {sql_literal(sign)}) then {rewrite.format(c=c)} else {c} end"
                           for c in FIELDS})
        return stages
