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

    def groups(self, con, source):
        columns = ["instruction", "input"] + (["output"] if self.params.key == "record" else [])
        norm = [f"regexp_replace(trim({'lower(' + c + ')' if self.params.ignore_case else c}), '\\s+', ' ', 'g')"
                for c in columns]
        key = " || chr(31) || ".join(norm)
        return f"""
            select source_row, group_id from (
                select source_row, hash({key}) as group_id,
                       count(*) over (partition by hash({key})) as members
                from {source})
            where members > 1"""
