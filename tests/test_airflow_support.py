"""The store an Airflow task uses: its Param, else the autodp_store connection, else settings."""

import json

import pytest

from autodp.airflow_support import resolve_store, store_from_connection_fields
from autodp.settings import Settings
from autodp.store import LocalStore
from autodp.store.s3 import S3Store


def test_param_wins(tmp_path):
    store = resolve_store(str(tmp_path))
    assert isinstance(store, LocalStore) and store.root == tmp_path.resolve()


def test_without_connection_the_settings_store(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AUTODP_STORE", raising=False)
    assert resolve_store("").uri == Settings.from_env().store_uri


@pytest.mark.s3
def test_aws_connection_opens_s3(s3_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AUTODP_STORE", json.dumps({
        "conn_type": "aws",
        "login": s3_server["access_key_id"],
        "password": s3_server["secret_access_key"],
        "extra": {"endpoint_url": s3_server["endpoint_url"], "region_name": "us-east-1",
                  "bucket": s3_server["bucket"], "prefix": "from-connection"},
    }))
    store = resolve_store("")
    assert isinstance(store, S3Store)
    assert store.uri == f"s3://{s3_server['bucket']}/from-connection"
    store.write_bytes("probe", b"ok")
    assert store.read_bytes("probe") == b"ok"


def test_connection_without_bucket_is_refused():
    with pytest.raises(ValueError, match="needs a 'bucket'"):
        store_from_connection_fields("k", "s", {"endpoint_url": "http://127.0.0.1:1"})
