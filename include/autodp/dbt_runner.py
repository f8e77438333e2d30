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

from autodp.engine import ensure_httpfs
from autodp.settings import Settings
from autodp.store import ArtifactStore


class DbtError(RuntimeError):
    """A dbt invocation that did not succeed."""


def dbt_project_dir() -> Path:
    packaged = Path(__file__).parent / "dbt_project"
    if (packaged / "dbt_project.yml").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "dbt"


def run_dbt_build(
    workdir: Path,
    variables: dict[str, Any],
    store: ArtifactStore,
    settings: Settings | None = None,
    select: str | None = None,
) -> Path:
    """``dbt build`` into ``workdir/autodp.duckdb``; returns that database file."""
    from dbt.cli.main import dbtRunner

    database = workdir / "autodp.duckdb"
    output: dict[str, Any] = {"type": "duckdb", "path": str(database), "threads": 1}
    secret = store.duckdb_secret()
    if secret:
        extension_dir = ensure_httpfs((settings or Settings.from_env()).duckdb_extension_dir)
        output["config_options"] = {"extension_directory": str(extension_dir)}
        output["extensions"] = ["httpfs"]
        output["secrets"] = [secret]
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
    return database


def read_tables(database: Path, tables: list[str]) -> dict[str, list[dict[str, Any]]]:
    # dbt-duckdb keeps its connection open in this process; a second one must use the
    # same configuration, so no read_only here.
    with duckdb.connect(str(database)) as con:
        found = {}
        for table in tables:
            relation = con.sql(f"select * from {table}")
            names = relation.columns
            found[table] = [dict(zip(names, row)) for row in relation.fetchall()]
        return found


def _failures(result: Any) -> str:
    if result.exception is not None:
        return str(result.exception)
    messages = []
    for node in getattr(result.result, "results", None) or []:
        if str(node.status) not in ("success", "pass"):
            messages.append(f"{node.node.name}: {node.status} {node.message or ''}".strip())
    return "; ".join(messages) or "see the dbt log"
