"""Two or more writers publishing one key at once, on the local store and on S3: one
manifest wins, every writer returns it, and it describes exactly the bytes stored."""

from __future__ import annotations

import json
import subprocess
import threading

from tests.faults.conftest import AUTODP, assert_whole


def test_racing_writers_of_one_key_leave_one_whole_artifact(store, tmp_path):
    writers = 8
    results: list[dict] = [{}] * writers
    barrier = threading.Barrier(writers)

    def publish(i: int) -> None:
        local = tmp_path / f"writer-{i}"
        local.mkdir()
        files = {}
        for name in ("a.bin", "b.bin"):  # each writer's bytes differ, as a nondeterministic step's would
            files[name] = local / name
            files[name].write_bytes(bytes([i]) * 300_000 + name.encode())
        barrier.wait()
        results[i] = store.publish("adapters", "k", files, provenance={"writer": i}, summary={"writer": i})

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winner = store.manifest("adapters", "k")
    assert all(result == winner for result in results)
    assert assert_whole(store) == 1
    assert store.list("adapters/") == ["adapters/k/a.bin", "adapters/k/b.bin", "adapters/k/manifest.json"]


def test_a_file_left_by_a_killed_writer_is_kept_and_listed_as_stored(store, tmp_path):
    left = tmp_path / "left"
    left.write_bytes(b"written by the run that was killed")
    store.create(left, "datasets/k/records.parquet")
    mine = tmp_path / "mine"
    mine.write_bytes(b"written by this run")
    manifest = store.publish("datasets", "k", {"records.parquet": mine}, provenance={}, summary={})
    assert store.read_bytes("datasets/k/records.parquet") == left.read_bytes()
    assert manifest["files"]["records.parquet"]["bytes"] == len(left.read_bytes())
    assert assert_whole(store) == 1


def test_two_cli_ingests_of_one_file_at_once_publish_one_dataset(target, medquad):
    uri, store, env = target
    processes = [subprocess.Popen([str(AUTODP), "ingest", str(medquad), "--store", uri, "--json"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in outputs]
    keys = {json.loads(out)["dataset_key"] for out, _ in outputs}
    assert store.artifacts("datasets") == sorted(keys) and len(keys) == 1
    assert assert_whole(store) == 1
