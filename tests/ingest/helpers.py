import duckdb

from autodp.artifacts import DATASETS, QUARANTINE_FILE, RECORDS_FILE
from autodp.tables import engine


def read_table(store, dataset_key, name):
    with engine.connect(store) as con:
        relation = con.sql(f"select * from read_parquet('{store.file_location(DATASETS, dataset_key, name)}') order by source_row")
        return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


def records(store, dataset_key):
    return read_table(store, dataset_key, RECORDS_FILE)


def quarantine(store, dataset_key):
    return read_table(store, dataset_key, QUARANTINE_FILE)


__all__ = ["duckdb", "quarantine", "records"]
