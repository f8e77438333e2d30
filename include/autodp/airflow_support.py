"""The few things only Airflow tasks need: finding the store from a Param or a connection.

Resolution order: the run's ``store`` Param, else the ``autodp_store`` connection when it is
defined (an ``aws`` connection: login/password are the key pair, extra carries
``endpoint_url``, ``region_name``, ``bucket`` and ``prefix``), else autodp's settings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from autodp.llm.endpoints import ROLES
from autodp.settings import Settings
from autodp.store import ArtifactStore, open_store

STORE_CONN_ID = "autodp_store"


def store_from_connection_fields(login: str | None, password: str | None, extra: dict[str, Any]) -> ArtifactStore:
    bucket = extra.get("bucket")
    if not bucket:
        raise ValueError(f"connection {STORE_CONN_ID!r}: extra needs a 'bucket'")
    from autodp.store.s3 import S3Store

    return S3Store(
        bucket,
        extra.get("prefix", ""),
        endpoint_url=extra.get("endpoint_url") or None,
        region=extra.get("region_name") or None,
        access_key_id=login or None,
        secret_access_key=password or None,
    )


def resolve_store(store_param: str | None) -> ArtifactStore:
    if store_param:
        return open_store(store_param)
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(STORE_CONN_ID)
    except AirflowNotFoundException:
        return open_store(Settings.from_env().store_uri)
    return store_from_connection_fields(conn.login, conn.password, conn.extra_dejson)


LLM_CONN_IDS = {role: f"autodp_llm_{role}" for role in ROLES}
# Retries are safe: every task finds what an earlier try stored under its content key.
TASK_DEFAULTS = {"retries": 2, "retry_delay": timedelta(seconds=30)}


def use_llm_connections() -> None:
    """Point each LLM role at its connection when one is defined (``autodp_llm_agent``,
    ``autodp_llm_data``, ``autodp_llm_judge``: host = OpenAI-compatible base URL, password
    = API key, extra ``model`` and ``trusted``); otherwise the settings' defaults stand."""
    import os

    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    for role, conn_id in LLM_CONN_IDS.items():
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            continue
        prefix = f"AUTODP_{role.upper()}_LLM_"
        extra = conn.extra_dejson
        if not conn.host:
            raise ValueError(f"connection {conn_id!r}: host must be the endpoint's base URL")
        os.environ[prefix + "BASE_URL"] = conn.host
        for name, value in (("MODEL", extra.get("model")), ("API_KEY", conn.password),
                            ("TRUSTED", None if extra.get("trusted") is None else str(extra["trusted"]).lower())):
            if value:
                os.environ[prefix + name] = value


def search_config(params: dict[str, Any]):
    from autodp.finetune import LoraSettings
    from autodp.search import SearchConfig

    return SearchConfig(iterations=params["iterations"], candidates=params["candidates"], method=params["method"],
                        base=params["model"], sample_size=params["sample_size"], eval_size=params["eval_size"],
                        lora=LoraSettings(steps=params["lora_steps"]), patience=params["patience"],
                        seed=params["seed"], llm_judge=params["llm_judge"])


def search_step(name: str, params: dict[str, Any], first: Any, *rest: Any) -> Any:
    """Run one step of ``autodp.search`` for a task: the same functions the CLI runs."""
    from autodp import search
    from autodp.operators.resources import Resources

    use_llm_connections()
    return getattr(search, name)(first, resolve_store(params["store"]), search_config(params), Resources(), *rest)


def latest_state(ti, task_ids: list[str]) -> dict[str, Any]:
    """The last search state a reflect task returned (later iterations may have been skipped)."""
    for task_id in reversed(task_ids):
        state = ti.xcom_pull(task_ids=task_id)
        if state:
            return state
    raise ValueError("no iteration evaluated a strategy: nothing to select")


def mapping_param():
    """The field-mapping Param both DAGs' trigger forms share."""
    from airflow.sdk import Param

    return Param({}, type="object", title="Field mapping",
                 description='Source column of each canonical field, e.g. {"instruction": "question", "output": '
                 '"answer"}. Leave empty for Alpaca or ShareGPT data.',
                 properties={f: {"type": "string", "minLength": 1} for f in ("instruction", "input", "output")},
                 additionalProperties=False)


def store_param():
    from airflow.sdk import Param

    return Param("", type="string", title="Artifact store",
                 description="Directory or s3://bucket/prefix. Empty: the autodp_store connection, else the "
                 "deployment's AUTODP_STORE.")
