import re
from typing import ClassVar

from pydantic import Field

from autodp.operators.base import Filter, OperatorParams, Stage, register_udf

# Words a finished English sentence does not end on.
DANGLING = frozenset("""a an the of to and or but nor in on at by for from with without into onto about as than
that which who whom whose when where while if because although though is are was were be been being has have had
do does did can could may might will would should must shall its their his her our your my this these those
such very more most less least not no also including include includes like between among during after before
over under through per via it they he she we there""".split())
FINISHED = re.compile(r"""([.!?…]['")\]*_`]*|[)\]"'`*]|[.!?]\d{1,3})$""")
# Where a list item, heading or attribution starts: the text after the last of these is
# the final segment.
SEGMENT_START = re.compile(r"(\n|\s{2,}|\s-\s|[.!?:;]\s)")
LIST_ITEM = re.compile(r"(^|\n)\s*([-*•]|\d+[.)])\s+[^\n]*$|\s{2,}-\s+[^\n]*$")
SENTENCE_START = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")
URL_END = re.compile(r"https?://\S+$")
BRACKETS = {"(": ")", "[": "]"}


def truncation_reason(text: str, min_words: int) -> str | None:
    """Why ``text`` looks cut off mid-sentence (trailing_punctuation, dangling_word,
    unclosed_bracket, sentence_just_begun, unfinished_sentence), or None."""
    text = text.rstrip()
    if not text or FINISHED.search(text):
        return None
    if text[-1] in ",-–—/&+=":
        return "trailing_punctuation"
    last_word = re.sub(r"\W+$", "", text.rsplit(None, 1)[-1]).lower()
    if last_word in DANGLING:
        return "dangling_word"
    if any(text.count(opening) > text.count(closing) for opening, closing in BRACKETS.items()):
        return "unclosed_bracket"
    if LIST_ITEM.search(text) or URL_END.search(text):  # a list's last item, or a link, needs no full stop
        return None
    sentence = SENTENCE_START.split(text)
    if len(sentence) > 1 and 0 < len(sentence[-1].split()) <= 3 and "\n" not in sentence[-1]:
        return "sentence_just_begun"
    segment = SEGMENT_START.split(text)[-1].split()
    # Long, mostly lower-case: a sentence that stops, not a list item, heading or name.
    capitalised = sum(1 for word in segment if word[:1].isupper())
    if len(segment) >= min_words and capitalised <= len(segment) / 3:
        return "unfinished_sentence"
    return None


class TruncationFilter(Filter):
    """Drops records whose response stops mid-sentence: it ends on a comma or dash, on a
    word no finished sentence ends on ("the", "of", "and", ...), inside an open bracket,
    a few words into a new sentence, or on a long run of lower-case words with no closing
    punctuation. Lists, links, headings, attributions and footnote numbers are not
    mistaken for cut-off text."""

    class Params(OperatorParams):
        min_words: int = Field(4, ge=2, le=50,
                               description="an unpunctuated final segment this long is an unfinished sentence")

    name = "truncation_filter"
    row_local: ClassVar[bool] = True
    stage: ClassVar[Stage] = "cleaning"

    def register_functions(self, con) -> None:
        min_words = self.params.min_words
        register_udf(con, f"autodp_truncation_{min_words}", lambda text: truncation_reason(text, min_words) or "",
                     ["VARCHAR"], "VARCHAR")

    def features(self) -> dict[str, str]:
        return {"_truncation": f"autodp_truncation_{self.params.min_words}(output)"}

    def drop_reason(self) -> str:
        return "case when _truncation <> '' then 'truncated_output' end"

    def drop_detail(self) -> str:
        return "_truncation"
