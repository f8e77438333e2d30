"""A DAG run's note, written from one of its tasks.

A task cannot write its run's note through the execution API, so this goes through
Airflow's REST API (``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}``) with the
``autodp_airflow_api`` connection: an HTTP connection to the API server whose login may edit
the DAG (``autodp ui`` defines it for its admin). Without that connection the note is
left alone and the log says so; a failure to write it never fails the task.
"""

from __future__ import annotations

import logging
from typing import Any

CONNECTION = "autodp_airflow_api"
MAX_NOTE_CHARS = 1000  # Airflow keeps a run's note in a column of this length
log = logging.getLogger(__name__)


def write_run_note(context: Any, markdown: str) -> bool:
    """Set the note of the run ``context`` belongs to; whether it was written."""
    import httpx
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(CONNECTION)
    except AirflowNotFoundException:
        log.info("no %s connection: the run's note is not written", CONNECTION)
        return False
    base = f"{connection.schema or 'http'}://{connection.host}" + (f":{connection.port}" if connection.port else "")
    ti = context["ti"]
    note = markdown if len(markdown) <= MAX_NOTE_CHARS else markdown[:MAX_NOTE_CHARS - 2] + " …"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            token = client.post("/auth/token", json={"username": connection.login,
                                                     "password": connection.password})
            token.raise_for_status()
            written = client.patch(f"/api/v2/dags/{ti.dag_id}/dagRuns/{context['run_id']}", json={"note": note},
                                   params={"update_mask": "note"},
                                   headers={"Authorization": f"Bearer {token.json()['access_token']}"})
            written.raise_for_status()
    except httpx.HTTPError as error:
        log.warning("the run's note was not written through %s: %s", CONNECTION, error)
        return False
    return True
