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
            con.execute(f"SET extension_directory = {sql_literal(str(extension_dir))}")
            con.execute(f"INSTALL {sql_literal(str(httpfs_wheel_file()))}")
    return extension_dir


def connect(
    store: ArtifactStore | None = None,
    database: str = ":memory:",
    settings: Settings | None = None,
) -> duckdb.DuckDBPyConnection:
    """A connection that can read the store's ``location()`` URLs, within the settings'
    memory budget (spilling to disk past it)."""
    settings = settings or Settings.from_env()
    con = duckdb.connect(database)
    settings.duckdb_spill_dir.mkdir(parents=True, exist_ok=True)  # DuckDB makes the folder, not its parents
    con.execute(f"SET temp_directory = {sql_literal(str(settings.duckdb_spill_dir))}")
    if settings.duckdb_memory_limit:
        con.execute(f"SET memory_limit = {sql_literal(settings.duckdb_memory_limit)}")
    secret = store.duckdb_secret() if store is not None else None
    if secret:
        extension_dir = ensure_httpfs(settings.duckdb_extension_dir)
        con.execute(f"SET extension_directory = {sql_literal(str(extension_dir))}")
        con.execute("LOAD httpfs")
        con.execute(create_secret_sql("autodp_store", secret))
    return con


def create_secret_sql(name: str, secret: dict[str, str]) -> str:
    options = [f"TYPE {secret['type']}"]
    options += [f"{key.upper()} {sql_literal(value)}" for key, value in secret.items() if key != "type"]
    return f"CREATE OR REPLACE SECRET {name} ({', '.join(options)})"


def spill_folder(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The connection's spill folder (``temp_directory``), made if missing: where a step's
    own temporary files belong too."""
    (folder,) = con.execute("select current_setting('temp_directory')").fetchone()
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
