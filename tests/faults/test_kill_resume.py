"""SIGKILL an ingest or an apply through the CLI, mid-publish and at points spread over
the run, on the local store and on S3; then resume with the same command. The store must
never show a partial artifact, and the resumed result must equal an uninterrupted run's."""

from __future__ import annotations

import json
import shutil

from autodp.store import LocalStore
from tests.faults.conftest import (
    assert_whole,
    cli,
    kill_after,
    kill_when,
    partial_artifacts,
    snapshot,
)

KILL_AFTER_S = (2.5, 3.5, 4.5, 6.0)


def test_ingest_killed_mid_publish_resumes_to_the_same_bytes(target, reference, medquad):
    uri, store, env = target
    args = ["ingest", str(medquad), "--store", uri]
    caught = False
    for _ in range(8):  # the window between the first file and the manifest is short: retry until caught
        if kill_when(args, env, lambda: bool(partial_artifacts(store))):
            caught = True
            assert store.artifacts("datasets") == [], "a killed ingest left an artifact"
            break
        _empty(store)
    assert caught, "never caught the ingest between its first file and its manifest"
    assert assert_whole(store) == 0
    resumed = cli([*args, "--json"], env)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["rows_in"] == summary["rows_kept"] + summary["rows_quarantined"]
    assert snapshot(store) == {k: v for k, v in snapshot(reference["store"]).items() if k[1] == summary["dataset_key"]}


def test_apply_killed_mid_operator_and_mid_publish_resumes_to_the_same_bytes(target, reference, medquad):
    uri, store, env = target
    assert cli(["ingest", str(medquad), "--store", uri], env).returncode == 0
    args = ["apply", reference["key"], "--strategy", str(reference["strategy"]), "--store", uri]
    kills = 0
    for delay in KILL_AFTER_S:  # each resume reuses the steps already stored and goes further
        kills += kill_after(args, env, delay)
        assert_whole(store)
    kills += kill_when(args, env, lambda: bool(partial_artifacts(store)))
    assert_whole(store)
    assert kills >= 2, "the apply finished before most kills: the kill points need moving"
    resumed = cli([*args, "--json"], env)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["rows_out"] == reference["rows_out"]
    assert snapshot(store) == snapshot(reference["store"])


def _empty(store) -> None:
    if isinstance(store, LocalStore):
        shutil.rmtree(store.root, ignore_errors=True)
    else:
        for path in store.list(""):
            store.client.delete_object(Bucket=store.bucket, Key=store._key(path))


def test_a_retry_on_another_worker_with_another_directory_and_environment_gives_the_same_keys_and_bytes(
        tmp_path, reference, medquad, cli_env):
    """An Airflow retry may land on another worker: another working directory, locale, time
    zone, hash seed and home. Keys and bytes must not depend on any of them."""
    import subprocess

    from tests.faults.conftest import AUTODP

    elsewhere = tmp_path / "another" / "worker"
    elsewhere.mkdir(parents=True)
    store = LocalStore(tmp_path / "store")
    env = {**cli_env, "TZ": "Pacific/Kiritimati", "LANG": "C", "LC_ALL": "C", "PYTHONHASHSEED": "12345",
           "HOME": str(elsewhere), "AUTODP_HOME": str(elsewhere / ".autodp"), "OMP_NUM_THREADS": "1"}
    for args in (["ingest", str(medquad)], ["apply", reference["key"], "--strategy", str(reference["strategy"])]):
        done = subprocess.run([str(AUTODP), *args, "--store", str(store.root)], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert snapshot(store) == snapshot(reference["store"])
