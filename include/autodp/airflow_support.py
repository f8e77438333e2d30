"""The few things only Airflow tasks need: finding the store from a Param or a connection.

Resolution order: the run's ``store`` Param, else the ``autodp_store`` connection when it is
defined (an ``aws`` connection: login/password are the key pair, extra carries
``endpoint_url``, ``region_name``, ``bucket`` and ``prefix``), else autodp's settings.
"""

from __future__ import annotations

from typing import Any

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
