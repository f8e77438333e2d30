from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Mapper, OperatorParams, Stage
from autodp.tables.engine import sql_literal

LEADING_QUESTION = r"^[^.?!\n]{3,250}\?\s+"
ANSWER_HEADER = r"^\s*(#{1,4}\s*)?(answer|response|output|assistant)\s*:\s*"
AI_DISCLAIMER = r"^\s*(as an ai( language model)?|i am an ai|as a language model)[^.,]*[.,]\s*"
PLEASANTRY = r"^\s*(sure|certainly|of course|absolutely)[!.,]\s*(here('s| is| are)[^:\n]*:\s*)?"
CLOSING = r"\s*(i hope (this|that) helps[^\n]*|let me know if you (have|need) [^\n]*)$"


class BoilerplateStrip(Mapper):
    """Removes text that carries no answer: a leading restatement of the question
    ("What are the signs of X? Signs of X include ..."), answer headers ("Answer:"),
    AI disclaimers and pleasantries at the start, and closing offers of more help."""

    class Params(OperatorParams):
        restated_question: bool = Field(True, description="drop a leading question sentence from the output")
        answer_header: bool = Field(True)
        ai_disclaimer: bool = Field(True)
        pleasantries: bool = Field(True)
        closing: bool = Field(True)

    name = "boilerplate_strip"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def rewrites(self) -> dict[str, str]:
        p, expr = self.params, "output"
        for enabled, pattern in ((p.answer_header, ANSWER_HEADER), (p.ai_disclaimer, AI_DISCLAIMER),
                                 (p.pleasantries, PLEASANTRY), (p.closing, CLOSING)):
            if enabled:
                expr = f"regexp_replace({expr}, {sql_literal('(?i)' + pattern)}, '')"
        if p.restated_question:
            # Only when an answer follows the question, so a question-only output stays.
            followed = sql_literal(LEADING_QUESTION + r"\S")
            question = sql_literal(LEADING_QUESTION)
            expr = (f"case when regexp_matches({expr}, {followed}) "
                    f"then regexp_replace({expr}, {question}, '') else {expr} end")
        return {"output": f"trim({expr})"}

    def change_reason(self) -> str:
        return "boilerplate_removed"
