"""DuckDB connections that read local paths and ``s3://`` alike.

httpfs comes from the ``duckdb-extension-httpfs`` wheel and is installed into autodp's own
extension directory from that file, so DuckDB never downloads an extension.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from autodp.settings import Settings
from autodp.store import ArtifactStore


def httpfs_wheel_file() -> Path:
    import duckdb_extension_httpfs

    package = Path(duckdb_extension_httpfs.__file__).parent
    found = package / "extensions" / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not found.is_file():
        raise RuntimeError(
            f"duckdb-extension-httpfs has no build for DuckDB {duckdb.__version__} ({found}); "
            "install the matching pair from requirements.lock"
        )
    return found


def ensure_httpfs(extension_dir: Path) -> Path:
    """Install httpfs from the wheel into ``extension_dir`` once; return the directory."""
    extension_dir.mkdir(parents=True, exist_ok=True)
    installed = list(extension_dir.glob(f"v{duckdb.__version__}/*/httpfs.duckdb_extension"))
    if not installed:
        with duckdb.connect() as con:
            con.execute(f"SET extension_directory = '{extension_dir}'")
            con.execute(f"INSTALL '{httpfs_wheel_file()}'")
    return extension_dir


def connect(
    store: ArtifactStore | None = None,
    database: str = ":memory:",
    settings: Settings | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection that can read the store's ``location()`` URLs."""
    con = duckdb.connect(database)
    setup = store.duckdb_setup_sql() if store is not None else []
    if setup:
        extension_dir = ensure_httpfs((settings or Settings.from_env()).duckdb_extension_dir)
        con.execute(f"SET extension_directory = '{extension_dir}'")
        con.execute("LOAD httpfs")
        for statement in setup:
            con.execute(statement)
    return con
