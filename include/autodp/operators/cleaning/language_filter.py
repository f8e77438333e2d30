from functools import cache
from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Filter, OperatorParams, Stage, register_udf

SAMPLE_CHARS = 500


@cache
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str:
    """'<code>:<probability>', or 'und:0' for text with no letters."""
    if not any(ch.isalpha() for ch in text):
        return "und:0"
    code, probability = _identifier().classify(text[:SAMPLE_CHARS])
    return f"{code}:{probability:.3f}"


class LanguageFilter(Filter):
    """Keeps records whose instruction and output are in one of the given languages
    (py3langid, whose model ships in its wheel). Text with no letters is kept."""

    class Params(OperatorParams):
        languages: list[str] = Field(["en"], min_length=1, description="ISO 639-1 codes to keep")
        min_probability: float = Field(0.5, ge=0.0, le=1.0,
                                       description="below this confidence the record is kept (too unsure to drop)")

    name = "language_filter"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def register_functions(self, con) -> None:
        register_udf(con, "autodp_language", detect_language, ["VARCHAR"], "VARCHAR")

    def features(self) -> dict[str, str]:
        return {"_language": "autodp_language(instruction || chr(10) || output)"}

    def drop_reason(self) -> str:
        keep = ", ".join(f"'{code}'" for code in self.params.languages)
        return f"""case when split_part(_language, ':', 1) not in ({keep}, 'und')
                          and cast(split_part(_language, ':', 2) as double) >= {self.params.min_probability}
                        then 'wrong_language' end"""

    def drop_detail(self) -> str:
        return "'detected ' || _language"
