"""Run one operator over tiny inline records, the way the executor runs it."""

import duckdb

from autodp.hashing import record_id
from autodp.ingest.ingest import RECORDS_SCHEMA
from autodp.operators.base import prepare_connection


def run_operator(operator, rows, tmp_path, resources=None):
    """rows: dicts with instruction/input/output; returns (kept rows, drops, changes, outcome)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = {name: [] for name in RECORDS_SCHEMA.names}
    for number, row in enumerate(rows, start=1):
        texts = (row.get("instruction", ""), row.get("input", ""), row.get("output", ""))
        table["record_id"].append(record_id(*texts))
        table["instruction"].append(texts[0])
        table["input"].append(texts[1])
        table["output"].append(texts[2])
        table["metadata"].append("{}")
        table["source_row"].append(number)
    path = tmp_path / "records.parquet"
    pq.write_table(pa.Table.from_pydict(table, schema=RECORDS_SCHEMA), path)
    with duckdb.connect() as con:
        prepare_connection(con, str(path), "step_0")
        outcome = operator.run(con, "step_0", "step_1", 1, resources)
        return (_rows(con, "select * from step_1 order by source_row"),
                _rows(con, "select * from drops order by source_row"),
                _rows(con, "select * from changes order by source_row"),
                outcome)


def _rows(con, sql):
    relation = con.sql(sql)
    return [dict(zip(relation.columns, row)) for row in relation.fetchall()]
