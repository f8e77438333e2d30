"""The main job: ``autodp_search`` run through Airflow (``airflow dags test``) on the
embedded defaults: a SQLite metadata database and the DAGs under ``$AUTODP_HOME/airflow``,
the local artifact store, and the local LLM server (started for the run when nothing
answers). Airflow's log goes to a file; task progress is printed as it happens."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autodp.artifacts import DATASETS, PUBLISHED
from autodp.hashing import file_sha256
from autodp.search.published import published_result
from autodp.settings import Settings, sqlite_metadata_url
from autodp.store import ArtifactStore

# `airflow dags test` runs one task at a time and logs its start, then its new state.
TASK_STARTS = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
TASK_ENDS = re.compile(r"new_state=(success|failed|up_for_retry|skipped)")


def airflow_environment(settings: Settings, dags_folder: Path) -> dict[str, str]:
    home = settings.home / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Airflow's default of 32 costs about 5.6 GB; one machine runs a few tasks at a time.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_metadata_url(home / "airflow.db"),
            **openlineage_environment(settings),
            "AUTODP_HOME": str(settings.home)}


# What configures OpenLineage's transport; where none is set, events go to a local file.
OPENLINEAGE_CONFIGURED = ("AIRFLOW__OPENLINEAGE__TRANSPORT", "AIRFLOW__OPENLINEAGE__CONFIG_PATH",
                          "AIRFLOW__OPENLINEAGE__DISABLED", "OPENLINEAGE_URL", "OPENLINEAGE_CONFIG",
                          "OPENLINEAGE_DISABLED")


def openlineage_environment(settings: Settings) -> dict[str, str]:
    """Airflow's OpenLineage provider writing one JSON event per line to
    ``$AUTODP_HOME/lineage/openlineage.jsonl``, in namespace ``autodp``, unless the
    environment configures OpenLineage itself (an HTTP transport in production)."""
    if any(os.environ.get(name) for name in OPENLINEAGE_CONFIGURED):
        return {}
    events = lineage_events_file(settings)
    events.parent.mkdir(parents=True, exist_ok=True)
    return {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events),
                                                           "append": True}),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": os.environ.get("AIRFLOW__OPENLINEAGE__NAMESPACE", "autodp")}


def lineage_events_file(settings: Settings) -> Path:
    return settings.home / "lineage" / "openlineage.jsonl"


def run_search_dag(conf: dict[str, Any], store: ArtifactStore, dags_folder: Path,
                   settings: Settings | None = None, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run autodp_search with ``conf`` through Airflow; return the published search result."""
    settings = settings or Settings.from_env()
    env = airflow_environment(settings, dags_folder)
    airflow = str(Path(sys.executable).parent / "airflow")
    log = settings.home / "airflow" / "main-job.log"
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    if migrated.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr[-2000:]}")
    say(f"running autodp_search through Airflow (airflow dags test); log: {log}")
    with open(log, "w") as sink:
        process = subprocess.Popen([airflow, "dags", "test", "autodp_search", "--conf", json.dumps(conf)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        task, started = "", time.monotonic()
        for line in process.stdout:
            sink.write(line)
            if starts := TASK_STARTS.search(line):
                task = starts.group(1) + (f"[{starts.group(2)}]" if starts.group(2) != "-1" else "")
                started = time.monotonic()
            elif (ends := TASK_ENDS.search(line)) and task:
                say(f"  {task:<28} {ends.group(1):<8} {time.monotonic() - started:6.1f} s")
        code = process.wait()
    if code:
        raise RuntimeError(f"autodp_search failed under Airflow (exit {code}); see {log}")
    return _published_for(store, conf)


def _published_for(store: ArtifactStore, conf: dict[str, Any]) -> dict[str, Any]:
    """The search published for this source and configuration: for a local file, the one
    ingested from its current bytes (under whatever path); for a URL, the latest from it."""
    from autodp.orchestration.support import search_config

    config = search_config(conf, store).to_dict()
    local = Path(conf["source"])
    digest = file_sha256(local) if local.is_file() else None
    found = []
    for key in store.artifacts(PUBLISHED):
        manifest = store.manifest(PUBLISHED, key)
        if manifest["provenance"].get("config") != config:
            continue
        dataset = store.manifest(DATASETS, manifest["provenance"]["dataset"])["provenance"]
        if (dataset.get("source_sha256") == digest) if digest else (dataset.get("source") == conf["source"]):
            found.append((manifest["created_at"], key))
    if not found:
        raise RuntimeError("autodp_search finished but published no result for this source and configuration")
    return published_result(store, max(found)[1])
