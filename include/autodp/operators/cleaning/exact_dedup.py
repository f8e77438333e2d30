from typing import ClassVar, Literal

from pydantic import Field

from autodp.operators.base import Deduplicator, OperatorParams, Stage


class ExactDedup(Deduplicator):
    """Keeps the first of records that are identical after normalization (case, whitespace).

    `key` chooses what must match: the whole record, or only the prompt (instruction and
    input), which also removes one question answered twice.
    """

    class Params(OperatorParams):
        key: Literal["record", "prompt"] = Field("record", description="what must be identical")
        ignore_case: bool = Field(True)

    name = "exact_dedup"
    stage: ClassVar[Stage] = "cleaning"
    reason: ClassVar[str] = "exact_duplicate"

    def _normalized(self, column: str) -> str:
        """Whitespace runs collapsed, ends trimmed; the regular expression runs only where
        the text has something to collapse."""
        text = f"lower({column})" if self.params.ignore_case else column
        return (f"case when regexp_matches({column}, '\\s\\s|[\\t\\n\\r\\f\\v]|^\\s|\\s$') "
                f"then trim(regexp_replace({text}, '\\s+', ' ', 'g')) else {text} end")

    def groups(self, con, source):
        columns = ["instruction", "input"] + (["output"] if self.params.key == "record" else [])
        norm = [self._normalized(c) for c in columns]
        key = " || chr(31) || ".join(norm)
        return f"""
            select source_row, group_id from (
                select source_row, group_id, count(*) over (partition by group_id) as members
                from (select source_row, hash({key}) as group_id from {source}))
            where members > 1"""
