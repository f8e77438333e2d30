"""Run autodp's dbt project in-process (dbtRunner) against a throwaway DuckDB file.

The profile is written per run, so the same models read local paths and ``s3://`` URLs:
for an S3 store it loads httpfs from autodp's extension directory and carries the store's
secret. dbt's target and log folders go to the run's work directory, never the project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import yaml

from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables.engine import ensure_httpfs


class DbtError(RuntimeError):
    """A dbt invocation that did not succeed."""


def dbt_project_dir() -> Path:
    package = Path(__file__).resolve().parents[1]  # include/autodp, or autodp in an installed wheel
    packaged = package / "dbt_project"
    if (packaged / "dbt_project.yml").is_file():
        return packaged
    return package.parents[1] / "dbt"


def run_dbt_build(
    workdir: Path,
    variables: dict[str, Any],
    store: ArtifactStore,
    settings: Settings | None = None,
    select: str | None = None,
) -> Path:
    """``dbt build``; external models land as ``<name>.parquet`` in the returned folder."""
    from dbt.cli.main import dbtRunner

    exported = workdir / "exported"
    exported.mkdir(parents=True, exist_ok=True)
    output: dict[str, Any] = {"type": "duckdb", "path": str(workdir / "autodp.duckdb"),
                              "threads": 1, "external_root": str(exported)}
    settings = settings or Settings.from_env()
    # Given when the database opens, not SET on each of dbt's cursors: DuckDB refuses to
    # move its spill folder once a query has spilled into it.
    config: dict[str, str] = {}
    if settings.duckdb_memory_limit:  # the same budget and spill folder as autodp's own connections
        settings.duckdb_spill_dir.mkdir(parents=True, exist_ok=True)
        config = {"memory_limit": settings.duckdb_memory_limit, "temp_directory": str(settings.duckdb_spill_dir)}
    secret = store.duckdb_secret()
    if secret:
        config["extension_directory"] = str(ensure_httpfs(settings.duckdb_extension_dir))
        output["extensions"] = ["httpfs"]
        output["secrets"] = [secret]
    if config:
        output["config_options"] = config
    profiles = {"autodp": {"target": "run", "outputs": {"run": output}}}
    (workdir / "profiles.yml").write_text(yaml.safe_dump(profiles))

    args = [
        "build",
        "--project-dir", str(dbt_project_dir()),
        "--profiles-dir", str(workdir),
        "--target-path", str(workdir / "target"),
        "--log-path", str(workdir / "logs"),
        "--vars", json.dumps(variables),
        "--quiet",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        "--no-partial-parse",
    ]
    if select:
        args += ["--select", select]
    result = dbtRunner().invoke(args)
    if not result.success:
        raise DbtError(f"dbt build failed: {_failures(result)}")
    return exported


def read_exported(exported: Path, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Rows of the external models dbt wrote (dbt-duckdb keeps its own database open)."""
    found = {}
    with duckdb.connect() as con:
        for table in tables:
            relation = con.read_parquet(str(exported / f"{table}.parquet"))
            found[table] = [dict(zip(relation.columns, row)) for row in relation.fetchall()]
    return found


def _failures(result: Any) -> str:
    if result.exception is not None:
        return str(result.exception)
    messages = []
    for node in getattr(result.result, "results", None) or []:
        if str(node.status) not in ("success", "pass"):
            messages.append(f"{node.node.name}: {node.status} {node.message or ''}".strip())
    return "; ".join(messages) or "see the dbt log"
