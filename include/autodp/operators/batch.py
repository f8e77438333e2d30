"""Moving rows between DuckDB and Python for operators that must compute in Python
(LLM calls, embeddings, likelihoods): fetch what is needed, write results back as a temp
table that the operator's SQL joins on source_row."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from autodp.operators.resources import Resources

TEXTS = "source_row, instruction, input, output"


def fetch(con: duckdb.DuckDBPyConnection, source: str, resources: Resources | None = None,
          where: str = "true", columns: str = TEXTS) -> list[dict[str, Any]]:
    """Rows of ``source`` in source_row order; only PTS-flagged rows when targets are set."""
    relation = con.sql(f"select {columns} from {source} where {where} order by source_row")
    rows = [dict(zip(relation.columns, row)) for row in relation.fetchall()]
    if resources is not None and resources.targets is not None:
        rows = [row for row in rows if row["source_row"] in resources.targets]
    return rows


def prompt_and_response_vectors(records: list[dict[str, Any]], resources: Resources):
    """MiniLM embeddings (unit rows) of each record's prompt and of its response."""
    from autodp.text import prompt_text

    return (resources.embedder.encode([prompt_text(r) for r in records]),
            resources.embedder.encode([r["output"] for r in records]))


def write_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, pa.Array]) -> None:
    """Create temp table ``name`` from Arrow columns (copied, so later joins stay in DuckDB)."""
    con.register(f"{name}_arrow", pa.table(columns))
    con.execute(f"create or replace temp table {name} as select * from {name}_arrow")
    con.unregister(f"{name}_arrow")
