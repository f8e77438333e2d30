import json
import threading

import pytest

from autodp.store import ArtifactNotFound, open_store


def test_bytes_round_trip(store):
    store.write_bytes("a/b.txt", b"hello")
    assert store.exists("a/b.txt")
    assert not store.exists("a/c.txt")
    assert store.read_bytes("a/b.txt") == b"hello"
    store.write_bytes("a/b.txt", b"replaced")
    assert store.read_bytes("a/b.txt") == b"replaced"


def test_create_download_and_list(store, tmp_path):
    local = tmp_path / "in.bin"
    local.write_bytes(bytes(range(256)) * 100)
    assert store.create(local, "x/y/in.bin")
    assert not store.create(local, "x/y/in.bin")  # never over what is there
    store.write_bytes("x/z.txt", b"z")
    out = tmp_path / "out.bin"
    store.download("x/y/in.bin", out)
    assert out.read_bytes() == local.read_bytes()
    assert store.list("x/") == ["x/y/in.bin", "x/z.txt"]
    assert store.list("nothing/") == []


def test_publish_writes_files_then_manifest(store, tmp_path):
    data = tmp_path / "data.parquet"
    data.write_bytes(b"PAR1...")
    manifest = store.publish("datasets", "k1", {"data.parquet": data},
                             provenance={"step": "test"}, summary={"rows": 3})
    assert store.has("datasets", "k1")
    assert store.manifest("datasets", "k1") == manifest
    assert manifest["files"]["data.parquet"]["bytes"] == 7
    assert store.artifacts("datasets") == ["k1"]
    assert json.loads(store.read_bytes("datasets/k1/manifest.json"))["summary"] == {"rows": 3}


def test_publish_is_idempotent(store, tmp_path):
    first = tmp_path / "first"
    first.write_bytes(b"first")
    second = tmp_path / "second"
    second.write_bytes(b"second")
    store.publish("datasets", "k", {"f": first}, provenance={}, summary={"n": 1})
    again = store.publish("datasets", "k", {"f": second}, provenance={}, summary={"n": 2})
    assert again["summary"] == {"n": 1}
    assert store.read_bytes("datasets/k/f") == b"first"


def test_files_without_manifest_are_not_an_artifact(store):
    store.write_bytes("datasets/half/records.parquet", b"partial")
    assert not store.has("datasets", "half")
    assert store.artifacts("datasets") == []
    with pytest.raises(ArtifactNotFound, match="half"):
        store.manifest("datasets", "half")


def test_concurrent_writers_leave_one_whole_file(store):
    payloads = [bytes([i]) * 200_000 for i in range(6)]
    threads = [threading.Thread(target=store.write_bytes, args=("race.bin", p)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.read_bytes("race.bin") in payloads


def test_local_store_refuses_paths_outside_its_root(local_store):
    with pytest.raises(ValueError, match="leaves the store root"):
        local_store.write_bytes("../escape.txt", b"x")


def test_open_store_picks_the_backend(tmp_path):
    assert open_store(str(tmp_path)).uri == str(tmp_path.resolve())
    assert open_store(f"file://{tmp_path}").uri == str(tmp_path.resolve())
    with pytest.raises(ValueError, match="unsupported scheme"):
        open_store("ftp://host/x")
    with pytest.raises(ValueError, match="names no bucket"):
        open_store("s3:///prefix")


@pytest.mark.s3
def test_s3_store_from_uri_uses_the_aws_environment(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server["endpoint_url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server["secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store(f"s3://{s3_server['bucket']}/from-env")
    store.write_bytes("k", b"v")
    assert store.read_bytes("k") == b"v"
    assert store.location("k") == f"s3://{s3_server['bucket']}/from-env/k"


def test_a_killed_writers_staged_file_is_removed_by_the_next_write_into_its_folder(local_store, tmp_path):
    import os
    import time

    from autodp.store.local import STALE_STAGING_SECONDS

    folder = local_store.root / "datasets" / "k"
    folder.mkdir(parents=True)
    stale, live = folder / ".tmp-killed", folder / ".tmp-writing"
    stale.write_bytes(b"half a file")
    live.write_bytes(b"being written")
    long_ago = time.time() - STALE_STAGING_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    source = tmp_path / "f.parquet"
    source.write_bytes(b"data")
    local_store.publish("datasets", "k", {"records.parquet": source}, provenance={}, summary={})
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in folder.iterdir()) == [".tmp-writing", "manifest.json", "records.parquet"]
