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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autodp.hashing import file_sha256
from autodp.ingest import DATASETS
from autodp.search import PUBLISHED, published_result
from autodp.settings import Settings
from autodp.store import ArtifactStore

TASK_DONE = re.compile(r"(?:Task instance in|Marking task as) (?:state )?(\w+).*?task_id=([\w.]+)"
                       r"|task_id=([\w.]+).*?(?:state|new_state)=(\w+)")


def airflow_environment(settings: Settings, dags_folder: Path) -> dict[str, str]:
    home = settings.home / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Airflow's default of 32 costs about 5.6 GB; one machine runs a few tasks at a time.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AUTODP_HOME": str(settings.home)}


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
        seen: set[tuple[str, str]] = set()
        for line in process.stdout:
            sink.write(line)
            match = TASK_DONE.search(line)
            if match:
                state, task = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
                if state.lower() in ("success", "skipped", "failed", "up_for_retry") and (task, state) not in seen:
                    seen.add((task, state))
                    say(f"  {task:<24} {state.lower()}")
        code = process.wait()
    if code:
        raise RuntimeError(f"autodp_search failed under Airflow (exit {code}); see {log}")
    return _published_for(store, conf)


def _published_for(store: ArtifactStore, conf: dict[str, Any]) -> dict[str, Any]:
    """The search published for this source file and configuration."""
    from autodp.airflow_support import search_config

    config = search_config(conf).to_dict()
    digest = file_sha256(Path(conf["source"]))
    for key in store.artifacts(PUBLISHED):
        provenance = store.manifest(PUBLISHED, key)["provenance"]
        if provenance.get("config") != config:
            continue
        dataset = store.manifest(DATASETS, provenance["dataset"])["provenance"]
        if dataset.get("source_sha256") == digest:
            return published_result(store, key)
    raise RuntimeError("autodp_search finished but published no result for this source and configuration")
