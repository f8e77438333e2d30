"""The store failing under a run: the local disk full, the S3 server killed mid-write and
started again, a slow S3, the S3 credentials revoked mid-run. Each run fails with one
error naming the store, leaves only whole artifacts, and a retry ends at the
uninterrupted run's bytes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from autodp.store import LocalStore
from autodp.store.s3 import S3Store
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedFS, _free_ports
from tests.faults.conftest import AUTODP, assert_whole, cli, snapshot

pytestmark = pytest.mark.s3


@pytest.fixture
def tmpfs(tmp_path) -> Iterator:
    """A 24 MiB tmpfs: room for an ingested MedQuAD and one applied step, not for more."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk-full test needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_local_disk_fails_the_step_naming_the_store_and_leaves_no_partial_artifact(tmpfs, medquad, cli_env,
                                                                                         reference):
    strategy = reference["strategy"]
    store = LocalStore(tmpfs / "store")
    ingested = cli(["ingest", str(medquad), "--store", str(store.root), "--json"], cli_env)
    assert ingested.returncode == 0, ingested.stderr
    key = json.loads(ingested.stdout)["dataset_key"]
    args = ["apply", key, "--strategy", str(strategy), "--store", str(store.root), "--json"]
    full = cli(args, cli_env)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "No space left on device" in full.stderr and str(store.root) in full.stderr, full.stderr
    assert len(full.stderr.strip().splitlines()) == 1, full.stderr
    assert assert_whole(store) >= 1
    assert not [p for p in store.root.rglob(".tmp-*")], "a failed write left its temporary file"
    subprocess.run(["mount", "-o", "remount,size=256m", str(tmpfs)], check=True)
    resumed = cli(args, cli_env)
    assert resumed.returncode == 0, resumed.stderr
    assert_whole(store)
    assert snapshot(store) == snapshot(reference["store"])


@pytest.fixture
def seaweed(tmp_path) -> Iterator[SeaweedFS]:
    """A SeaweedFS of this test's own, so that it can be killed and started again."""
    root = tmp_path / "seaweedfs"
    root.mkdir()
    server = SeaweedFS(root).start()
    yield server
    server.stop()


def _s3_target(endpoint: str, cli_env: dict[str, str], access_key: str = S3_ACCESS_KEY):
    prefix = f"faults-{uuid.uuid4().hex[:10]}"
    env = {**cli_env, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": access_key,
           "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_MAX_ATTEMPTS": "3"}
    store = S3Store("autodp-test", prefix, endpoint_url=endpoint, region="us-east-1",
                    access_key_id=S3_ACCESS_KEY, secret_access_key=S3_SECRET_KEY)
    return f"s3://autodp-test/{prefix}", store, env


def _start_apply(uri: str, key: str, strategy, env) -> subprocess.Popen:
    return subprocess.Popen([str(AUTODP), "apply", key, "--strategy", str(strategy), "--store", uri],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_steps(store: S3Store, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while len(store.artifacts("datasets")) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_s3_killed_mid_write_then_started_again(seaweed, medquad, cli_env, reference):
    key, strategy = reference["key"], reference["strategy"]
    uri, store, env = _s3_target(seaweed.endpoint, cli_env)
    assert cli(["ingest", str(medquad), "--store", uri], env).returncode == 0
    process = _start_apply(uri, key, strategy, env)
    _wait_for_steps(store, 2, process)  # the dataset and the first step are stored: the rest is mid-flight
    seaweed.kill()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and "autodp-test" in stderr, stderr
    seaweed.start()
    assert_whole(store)
    resumed = cli(["apply", key, "--strategy", str(strategy), "--store", uri], env)
    assert resumed.returncode == 0, resumed.stderr
    assert assert_whole(store) == len(snapshot(reference["store"]))
    assert snapshot(store) == snapshot(reference["store"])


def test_s3_credentials_revoked_mid_run_fail_naming_the_bucket_then_a_retry_is_clean(seaweed, medquad, cli_env,
                                                                                    reference):
    key, strategy = reference["key"], reference["strategy"]
    uri, store, env = _s3_target(seaweed.endpoint, cli_env)
    assert cli(["ingest", str(medquad), "--store", uri], env).returncode == 0
    granted = seaweed.config.read_text()
    process = _start_apply(uri, key, strategy, env)
    _wait_for_steps(store, 2, process)
    seaweed.kill()  # the server comes back with the run's access key gone
    seaweed.config.write_text(json.dumps({"identities": [{
        "name": "autodp", "credentials": [{"accessKey": "rotated-key", "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    revoked = threading.Thread(target=seaweed.start, args=("rotated-key",))
    revoked.start()
    _, stderr = process.communicate(timeout=300)
    revoked.join()
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr and "autodp-test" in stderr, stderr
    seaweed.kill()
    seaweed.config.write_text(granted)
    seaweed.start()
    resumed = cli(["apply", key, "--strategy", str(strategy), "--store", uri], env)
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(store) == snapshot(reference["store"])


class LatencyProxy:
    """TCP on loopback to the S3 server, each chunk held back ``delay_s`` both ways."""

    def __init__(self, target_port: int, delay_s: float):
        [self.port] = _free_ports(1)
        self.target_port, self.delay_s = target_port, delay_s
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader, writer) -> None:
        try:
            while chunk := await reader.read(65536):
                await asyncio.sleep(self.delay_s)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))

    def __enter__(self) -> LatencyProxy:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", self.port),
                                                       self.loop).result()
        return self

    async def _shutdown(self) -> None:
        """Stop listening, end every pipe (each closes its writer), and let the closes run."""
        self.server.close()
        pipes = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for pipe in pipes:
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        await asyncio.sleep(0.05)

    def __exit__(self, *_) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def test_a_slow_s3_changes_nothing_but_time(seaweed, medquad, cli_env, reference):
    key, strategy = reference["key"], reference["strategy"]
    with LatencyProxy(seaweed.ports["s3.port"], delay_s=0.05) as proxy:
        uri, store, env = _s3_target(f"http://127.0.0.1:{proxy.port}", cli_env)
        assert cli(["ingest", str(medquad), "--store", uri], env).returncode == 0
        applied = cli(["apply", key, "--strategy", str(strategy), "--store", uri], env)
        assert applied.returncode == 0, applied.stderr
        assert snapshot(store) == snapshot(reference["store"])
