from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Filter, OperatorParams, Stage
from autodp.tables.engine import sql_literal

URL = r"https?://[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]"  # trailing punctuation is not the URL
ATTACHMENT = r"^\s*<\s*(picture|image|photo|video|audio|file|graph|chart|table|attachment)[^>]*>\s*$"


class HallucinatedUrlFilter(Filter):
    """Drops records that can only be answered by inventing content: an input that is just
    a URL or an attachment placeholder ("<Picture Attached>"), or an output citing URLs
    that the prompt never gave.

    These are the "hallucinations" of the cleaned-Alpaca defect taxonomy.
    """

    class Params(OperatorParams):
        url_only_input: bool = Field(True, description="drop when the input is nothing but a URL")
        attachment_input: bool = Field(True, description="drop when the input is an attachment placeholder")
        invented_output_urls: bool = Field(True, description="drop when the output has a URL absent from the prompt")

    name = "hallucinated_url_filter"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def drop_reason(self) -> str:
        p, cases = self.params, []
        if p.url_only_input:
            cases.append(f"when regexp_full_match(trim(input), {sql_literal(URL)}) then 'url_only_input'")
        if p.attachment_input:
            cases.append(f"when regexp_matches(input, {sql_literal(ATTACHMENT)}, 'i') then 'attachment_input'")
        if p.invented_output_urls:
            cases.append(f"""when len(list_filter(regexp_extract_all(output, {sql_literal(URL)}),
                                   u -> not contains(instruction || ' ' || input, u))) > 0
                             then 'invented_url'""")
        return f"case {' '.join(cases)} end" if cases else "null"
