"""Operator base classes. They own the loop, the counting and the lineage; an operator
writes one narrow method (a SQL expression, or a Python function over one text).

Every operator works on a DuckDB table of canonical records and writes:
- the output table (same columns);
- rows into ``drops`` (step, source_row, record_id, operator, reason, detail) for each
  record it removes;
- rows into ``changes`` (step, source_row, previous_record_id, record_id, operator, reason)
  for each record it rewrites, so a rewritten record keeps its previous content hash.

The step number comes from the DuckDB variable ``autodp_step`` that ``run`` sets.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import duckdb
from pydantic import BaseModel, ConfigDict

from autodp import fields as F
from autodp.hashing import record_id_sql
from autodp.operators.resources import Resources
from autodp.tables.engine import spill_folder, sql_literal

Stage = Literal["cleaning", "selection", "refinement", "generation"]
Role = Literal["filter", "mapper", "deduplicator", "selector", "generator"]
RECORD_COLUMNS = ", ".join(F.CANONICAL_COLUMNS)


def prepare_connection(con: duckdb.DuckDBPyConnection, records_location: str, first_table: str) -> None:
    """Load records into ``first_table`` and create what operators write to: the record-id
    macro and the ``drops`` and ``changes`` tables."""
    con.execute(f"create or replace macro autodp_record_id(i, x, o) as {record_id_sql('i', 'x', 'o')}")
    con.execute(f"create temp table {first_table} as select * from read_parquet(?)", [records_location])
    con.execute("create temp table drops (step integer, source_row bigint, record_id varchar, "
                "operator varchar, reason varchar, detail varchar)")
    con.execute("create temp table changes (step integer, source_row bigint, previous_record_id varchar, "
                "record_id varchar, operator varchar, reason varchar)")


class OperatorParams(BaseModel):
    """Parameters of an operator: typed, bounded, and no unknown names."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StepOutcome:
    """rows_out = rows_in - sum(dropped) + added; ``changed`` rows were rewritten in place."""

    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    added: int = 0


class Operator(ABC):
    name: ClassVar[str]
    stage: ClassVar[Stage]
    role: ClassVar[Role]
    version: ClassVar[str] = "1"
    needs_llm: ClassVar[bool] = False
    needs_embeddings: ClassVar[bool] = False
    # The augmentation task (autodp.augmentation) whose registered model the operator runs
    # when its ``model`` param names one; None for operators without that param.
    augmentation_task: ClassVar[str | None] = None
    Params: ClassVar[type[OperatorParams]] = OperatorParams

    def __init__(self, params: OperatorParams | dict[str, Any] | None = None):
        self.params = params if isinstance(params, OperatorParams) else self.Params(**(params or {}))

    # Whether a record's outcome depends on that record alone (with the params and models),
    # so the step runs on each shard of a dataset on its own (autodp.execution.shards). Operators that
    # compare, rank or count records keep the default: they see the whole dataset.
    row_local: ClassVar[bool] = False

    def is_row_local(self) -> bool:
        return self.row_local

    @classmethod
    def describe(cls) -> str:
        return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())

    def run(self, con: duckdb.DuckDBPyConnection, source: str, target: str, step: int,
            resources: Resources | None = None) -> StepOutcome:
        """Read table ``source``, write table ``target``, append to ``drops``/``changes``."""
        self.register_functions(con)
        con.execute(f"set variable autodp_step = {int(step)}")
        rows_in = _count(con, source)
        self.prepare(con, source, resources or Resources())
        self.apply(con, source, target)
        changed = _tally(con, "changes", step)
        added = changed.pop("generated", 0)
        return StepOutcome(rows_in, _count(con, target), _tally(con, "drops", step), changed, added)

    def register_functions(self, con: duckdb.DuckDBPyConnection) -> None:  # noqa: B027
        """Python functions the operator's SQL calls (DuckDB UDFs); none by default."""

    def prepare(self, con: duckdb.DuckDBPyConnection, source: str, resources: Resources) -> None:  # noqa: B027
        """Batch work in Python (LLM calls, embeddings) that writes temp tables ``joins()``
        brings in; none by default."""

    def joins(self) -> str:
        """SQL joined onto ``source s`` (``using (source_row)``) before deciding."""
        return ""

    @abstractmethod
    def apply(self, con: duckdb.DuckDBPyConnection, source: str, target: str) -> None: ...


class Filter(Operator):
    """Drops records for which ``drop_reason()`` (a SQL expression) is not null."""

    role: ClassVar[Role] = "filter"

    @abstractmethod
    def drop_reason(self) -> str:
        """SQL over the record's columns: a reason code, or null to keep the record."""

    def drop_detail(self) -> str:
        return "null"

    def features(self) -> dict[str, str]:
        """Named SQL expressions computed once per record, usable in the two above."""
        return {}

    def apply(self, con, source, target):
        computed = "".join(f", {expr} as {name}" for name, expr in self.features().items())
        # Only the verdicts are materialised; the records are copied once, into target.
        con.execute(f"""
            create or replace temp table _judged as
            select source_row, record_id, _reason, _detail from (
                select source_row, record_id, ({self.drop_reason()}) as _reason, ({self.drop_detail()}) as _detail
                from (select *{computed} from {source} s {self.joins()}))
            where _reason is not null""")
        _record_drops(con, self.name, "_judged", "_reason", "_detail")
        con.execute(f"create or replace temp table {target} as "
                    f"select s.* from {source} s anti join _judged using (source_row)")
        con.execute("drop table _judged")


class ScoredFilter(Filter):
    """A filter that scores records in Python (an LLM, embeddings, a likelihood) and decides
    in SQL. ``scores`` returns the source_rows it scored and one value each (None: no
    score); the value is joined onto each record as column ``score`` (null where not
    scored) for ``drop_reason``, ``features`` and the drop detail ``<detail_label> <score>``."""

    score_type: ClassVar[str] = "double"  # "double" or "bool"
    detail_label: ClassVar[str | None] = None
    detail_digits: ClassVar[int] = 3

    @abstractmethod
    def scores(self, con: duckdb.DuckDBPyConnection, source: str,
               resources: Resources) -> tuple[list[int], list[Any]]: ...

    def prepare(self, con, source, resources):
        import pyarrow as pa

        from autodp.operators.batch import write_table

        rows, values = self.scores(con, source, resources)
        write_table(con, "_scores", {"source_row": pa.array(rows, pa.int64()),
                                     "score": pa.array(values, pa.float64() if self.score_type == "double"
                                                       else pa.bool_())})

    def joins(self) -> str:
        return "left join _scores using (source_row)"

    def drop_detail(self) -> str:
        if self.detail_label is None:
            return "null"
        return f"'{self.detail_label} ' || round(score, {self.detail_digits})"


class Mapper(Operator):
    """Rewrites text fields; a changed record gets a new record_id and a ``changes`` row."""

    role: ClassVar[Role] = "mapper"

    @abstractmethod
    def rewrites(self) -> dict[str, str]:
        """Column -> SQL expression of its new value (over the record's and joined columns)."""

    def rewrite_stages(self) -> list[dict[str, str]]:
        """Rewrites applied one after another, each over the previous stage's result."""
        return [self.rewrites()]

    def apply(self, con, source, target):
        old = ", ".join(f"s.{c} as _old_{c}" for c in F.TEXT_FIELDS)
        layered = f"select *, {old}, s.{F.RECORD_ID} as _previous_id from {source} s {self.joins()}"
        for stage in self.rewrite_stages():
            replaced = ", ".join(f"{expr} as {column}" for column, expr in stage.items())
            layered = f"select * replace ({replaced}) from ({layered})"
        changed = " or ".join(f"{c} is distinct from _old_{c}" for c in F.TEXT_FIELDS)
        con.execute(f"""
            create or replace temp table {target} as
            select case when {changed} then autodp_record_id({F.INSTRUCTION}, {F.INPUT}, {F.OUTPUT})
                        else _previous_id end as {F.RECORD_ID},
                   {", ".join(F.TEXT_FIELDS)}, {F.METADATA}, {F.SOURCE_ROW}, _previous_id
            from ({layered})""")
        con.execute(f"""
            insert into changes
            select getvariable('autodp_step'), {F.SOURCE_ROW}, _previous_id, {F.RECORD_ID}, '{self.name}',
                   '{self.change_reason()}'
            from {target} where _previous_id <> {F.RECORD_ID}""")
        con.execute(f"alter table {target} drop column _previous_id")

    def change_reason(self) -> str:
        return self.name


class BatchRewrite(Mapper):
    """A mapper whose new values are computed in Python (an LLM, usually): ``new_values``
    returns the rows it considered and, for each, the new text of ``field`` or None to
    keep the old one."""

    field: ClassVar[str]

    @abstractmethod
    def new_values(self, con: duckdb.DuckDBPyConnection, source: str,
                   resources: Resources) -> tuple[list[int], list[str | None]]: ...

    def prepare(self, con, source, resources):
        import pyarrow as pa

        from autodp.operators.batch import write_table

        rows, values = self.new_values(con, source, resources)
        write_table(con, "_rewrites", {"source_row": pa.array(rows, pa.int64()),
                                       "new_value": pa.array(values, pa.string())})

    def joins(self) -> str:
        return "left join _rewrites using (source_row)"

    def rewrites(self) -> dict[str, str]:
        return {self.field: f"coalesce(new_value, {self.field})"}


class Deduplicator(Operator):
    """Keeps one record per duplicate group: the one with the lowest source_row."""

    role: ClassVar[Role] = "deduplicator"

    @abstractmethod
    def groups(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        """SQL of (source_row, group_id) for the records that have duplicates."""

    def apply(self, con, source, target):
        con.execute(f"create or replace temp table _duplicates as {duplicates_sql(self.groups(con, source))}")
        self.drop_duplicates(con, source, target, "_duplicates")
        con.execute("drop table _duplicates")

    def drop_duplicates(self, con: duckdb.DuckDBPyConnection, source: str, target: str, duplicates: str) -> None:
        """Drop the records table ``duplicates`` (source_row, kept_row) names, each with the
        row it duplicates."""
        con.execute(f"""
            create or replace temp table _dups as
            select s.source_row, s.record_id, d.kept_row from {source} s join {duplicates} d using (source_row)""")
        _record_drops(con, self.name, "_dups", f"'{self.reason}'", "'duplicate of source row ' || kept_row")
        con.execute(f"create or replace temp table {target} as "
                    f"select s.* from {source} s anti join _dups using (source_row)")
        con.execute("drop table _dups")

    reason: ClassVar[str] = "duplicate"


class SignatureDeduplicator(Deduplicator):
    """A deduplicator whose groups follow from one signature per record, so a dataset in
    shards is deduplicated in two phases (``autodp.execution.shards``): signatures per shard, then the
    groups once over all of them, the same groups one table gives.

    Signatures go to a Parquet file, never into memory whole: one task's file lives in
    DuckDB's spill folder for the step, a shard's is stored as an artifact."""

    @abstractmethod
    def write_signatures(self, con: duckdb.DuckDBPyConnection, source: str, resources: Resources,
                         path: Path) -> int:
        """Write one row per record (``source_row`` and the signature columns) to the Parquet
        file ``path``, a block at a time; returns the rows written."""

    @abstractmethod
    def groups_from(self, con: duckdb.DuckDBPyConnection, signatures: str) -> str:
        """SQL of (source_row, group_id) for the records that have duplicates, from
        ``signatures``, a relation over every record's signatures (read it in blocks). The
        SQL must name only temp tables this method filled: the relation may be gone when
        it runs."""

    def prepare(self, con, source, resources):
        self._folder = tempfile.TemporaryDirectory(prefix=f"autodp-{self.name}-", dir=spill_folder(con))
        self._signatures = Path(self._folder.name) / "signatures.parquet"
        self.write_signatures(con, source, resources, self._signatures)

    def groups(self, con, source):
        try:
            return self.groups_from(con, f"read_parquet({sql_literal(str(self._signatures))})")
        finally:
            self._folder.cleanup()


def duplicates_sql(groups: str) -> str:
    """(source_row, kept_row) of every record in ``groups`` but the first of its group."""
    return f"""
        select source_row, kept_row from (
            select source_row, min(source_row) over (partition by group_id) as kept_row from ({groups}))
        where source_row <> kept_row"""


class Generator(Operator):
    """Adds new records made from existing ones; each new record's ``changes`` row names
    its parent (previous_record_id) with the reason ``generated``."""

    role: ClassVar[Role] = "generator"

    @abstractmethod
    def generate(self, con: duckdb.DuckDBPyConnection, source: str, resources: Resources) -> list[dict[str, Any]]:
        """New records: dicts with parent_row, instruction, input, output."""

    def prepare(self, con, source, resources):
        import pyarrow as pa

        made = self.generate(con, source, resources)
        con.register("_generated_arrow", pa.table({
            "parent_row": pa.array([m["parent_row"] for m in made], pa.int64()),
            "instruction": pa.array([m["instruction"] for m in made], pa.string()),
            "input": pa.array([m.get("input", "") for m in made], pa.string()),
            "output": pa.array([m["output"] for m in made], pa.string()),
        }))
        con.execute("create or replace temp table _generated as select row_number() over () as n, * "
                    "from _generated_arrow")
        con.unregister("_generated_arrow")

    def apply(self, con, source, target):
        con.execute(f"""
            create or replace temp table _new as
            select autodp_record_id(g.instruction, g.input, g.output) as record_id,
                   g.instruction, g.input, g.output,
                   json_object('generated_by', '{self.name}', 'parent_row', g.parent_row)::varchar as metadata,
                   (select coalesce(max(source_row), 0) from {source}) + g.n as source_row,
                   p.record_id as parent_record_id
            from _generated g join {source} p on p.source_row = g.parent_row""")
        con.execute("""insert into changes select getvariable('autodp_step'), source_row, parent_record_id,
                       record_id, '""" + self.name + """', 'generated' from _new""")
        con.execute(f"create or replace temp table {target} as select * from {source} "
                    f"union all by name select {RECORD_COLUMNS} from _new")
        con.execute("drop table _new; drop table _generated")


def register_udf(con: duckdb.DuckDBPyConnection, name: str, function, arguments: list[str], returns: str) -> None:
    """Register a Python function for SQL once per connection."""
    exists = con.execute("select count(*) from duckdb_functions() where function_name = ?", [name]).fetchone()[0]
    if not exists:
        con.create_function(name, function, arguments, returns, side_effects=False)


def _record_drops(con, operator: str, relation: str, reason: str, detail: str) -> None:
    con.execute(f"""
        insert into drops
        select getvariable('autodp_step'), {F.SOURCE_ROW}, {F.RECORD_ID}, '{operator}', {reason}, {detail} from {relation}""")


def _count(con, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchone()[0]


def _tally(con, table: str, step: int) -> dict[str, int]:
    rows = con.execute(f"select reason, count(*) from {table} where step = ? group by reason order by reason",
                       [step]).fetchall()
    return dict(rows)
