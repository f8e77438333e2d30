"""The few things only Airflow tasks need: the store, LLM endpoints and search
configuration a task builds from its Params and Airflow connections, and the Params both
DAGs share.

The store's resolution order: the run's ``store`` Param, else the ``autodp_store`` connection when it is
defined (an ``aws`` connection: login/password are the key pair, extra carries
``endpoint_url``, ``region_name``, ``bucket`` and ``prefix``), else autodp's settings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from autodp.llm.endpoints import NO_KEY, ROLES, Endpoint, endpoints_from_env
from autodp.operators.resources import Resources
from autodp.settings import Settings
from autodp.store import ArtifactStore, open_store

if TYPE_CHECKING:
    from autodp.curate.loop import CurateContext
    from autodp.distill.loop import DistillContext
    from autodp.search.config import SearchConfig
    from autodp.search.loop import SearchContext

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


def llm_endpoints() -> dict[str, Endpoint]:
    """Each LLM role's endpoint from its connection when one is defined (``autodp_llm_agent``,
    ``autodp_llm_data``, ``autodp_llm_judge``: host = OpenAI-compatible base URL, password
    = API key, extra ``model`` and ``trusted``), else from the deployment's settings."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    endpoints = endpoints_from_env()
    for role, conn_id in LLM_CONN_IDS.items():
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            continue
        endpoints[role] = Endpoint.from_connection(role, conn.host, conn.password, conn.extra_dejson, conn_id)
    from airflow.sdk.log import mask_secret

    for endpoint in endpoints.values():  # a key from the environment is masked in task logs like a password
        if endpoint.api_key != NO_KEY:
            mask_secret(endpoint.api_key, f"AUTODP_{endpoint.role.upper()}_LLM_API_KEY")
    return endpoints


def task_resources() -> Resources:
    """The resources of one task: its own endpoints, read afresh from the connections, so a
    worker process that runs many tasks never carries one task's endpoints into the next."""
    return Resources(endpoints=llm_endpoints())


def search_context(params: dict[str, Any]) -> SearchContext:
    """What an autodp_search task passes to its step: the store, the configuration from the
    run's Params, and the task's resources. A trusted evaluation file (the ``eval`` Param)
    is ingested (once: ingest finds it stored by its bytes) and named by its dataset key."""
    from autodp.search.loop import SearchContext

    store = resolve_store(params["store"])
    return SearchContext(store, search_config(params, store), task_resources().using(store))


def curate_context(params: dict[str, Any]) -> CurateContext:
    """What an autodp_curate task passes to its step: the store, the configuration from the
    run's Params, and the task's resources."""
    from autodp.curate.config import CurateConfig
    from autodp.curate.loop import CurateContext

    store = resolve_store(params["store"])
    return CurateContext(store, CurateConfig.from_params(params), task_resources().using(store))


def distill_context(params: dict[str, Any]) -> DistillContext:
    """What an autodp_distill task passes to its step: the store, the configuration from the
    run's Params, and the task's resources."""
    from autodp.distill.config import DistillConfig
    from autodp.distill.loop import DistillContext

    store = resolve_store(params["store"])
    return DistillContext(store, DistillConfig.from_params(params), task_resources().using(store))


def search_config(params: dict[str, Any], store: ArtifactStore) -> SearchConfig:
    """The run's SearchConfig, its trusted evaluation file (if any) named by dataset key."""
    from autodp.ingest import ingest
    from autodp.ingest.sources import allowed_source
    from autodp.search.config import SearchConfig

    trusted = (ingest(allowed_source(params["eval"], "eval"), store,
                      mapping=params.get("mapping") or None)["dataset_key"] if params.get("eval") else None)
    return SearchConfig.from_params({**params, "eval": trusted})


def mapping_param():
    """The field-mapping Param both DAGs' trigger forms share."""
    from airflow.sdk import Param

    return Param({}, type="object", title="Field mapping",
                 description='Source column of each canonical field, e.g. {"instruction": "question", "output": '
                 '"answer"}. Leave empty for Alpaca or ShareGPT data.',
                 properties={f: {"type": "string", "minLength": 1} for f in ("instruction", "input", "output")},
                 additionalProperties=False)


def store_param(section: str | None = None):
    """The artifact-store Param every DAG's trigger form has, in the form's ``section``."""
    from airflow.sdk import Param

    # Nullable, so the trigger form lets it be left empty.
    return Param(None, type=["null", "string"], title="Artifact store", **({"section": section} if section else {}),
                 description="Directory or s3://bucket/prefix. Empty: the autodp_store connection, else the "
                 "deployment's AUTODP_STORE.")
