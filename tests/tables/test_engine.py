"""DuckDB reads local paths and s3:// alike, with httpfs from the wheel (no download)."""

import duckdb

from autodp.tables import engine


def test_duckdb_reads_and_writes_the_store(store, tmp_path):
    local = tmp_path / "t.parquet"
    duckdb.sql("select range as n from range(10)").write_parquet(str(local))
    store.create(local, "tables/t.parquet")
    with engine.connect(store) as con:
        total = con.execute("select sum(n) from read_parquet(?)", [store.location("tables/t.parquet")]).fetchone()
    assert total == (45,)


def test_httpfs_is_installed_from_the_wheel(tmp_path):
    directory = engine.ensure_httpfs(tmp_path / "ext")
    installed = list(directory.rglob("httpfs.duckdb_extension"))
    assert len(installed) == 1
    assert installed[0].read_bytes() == engine.httpfs_wheel_file().read_bytes()


def test_secret_sql_quotes_values():
    sql = engine.create_secret_sql("s", {"type": "s3", "key_id": "a'b", "use_ssl": "false"})
    assert sql == "CREATE OR REPLACE SECRET s (TYPE s3, KEY_ID 'a''b', USE_SSL 'false')"
