from typing import ClassVar, Literal

from pydantic import Field

from autodp.operators.base import OperatorParams, SignatureDeduplicator, Stage
from autodp.tables.engine import sql_literal


class ExactDedup(SignatureDeduplicator):
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

    def write_signatures(self, con, source, resources, path):
        """A 64-bit hash of the normalized text per record."""
        columns = ["instruction", "input"] + (["output"] if self.params.key == "record" else [])
        key = " || chr(31) || ".join(self._normalized(c) for c in columns)
        (written,) = con.execute(f"copy (select source_row, hash({key}) as signature from {source}) "
                                 f"to {sql_literal(str(path))} (format parquet)").fetchone()
        return written

    def groups_from(self, con, signatures):
        con.execute(f"""
            create or replace temp table _exact_groups as
            select source_row, group_id from (
                select source_row, signature as group_id, count(*) over (partition by signature) as members
                from {signatures})
            where members > 1""")
        return "select source_row, group_id from _exact_groups"
