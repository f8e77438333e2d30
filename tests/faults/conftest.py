"""What every fault test checks after the fault: the store holds only whole artifacts, and
the work resumed after it equals an uninterrupted run's, byte for byte."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from autodp.store import ArtifactStore, LocalStore
from autodp.store.base import MANIFEST

AUTODP = Path(sys.executable).parent / "autodp"
TIMINGS = ("seconds", "created_at", "steps_per_s")
STRATEGY = {"name": "rules", "steps": [
    {"operator": "normalize_text"}, {"operator": "drop_empty_output"}, {"operator": "length_bounds"},
    {"operator": "exact_dedup"}, {"operator": "near_dedup"}, {"operator": "pii_redaction"}]}
MEDQUAD = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "medquad" / \
    "medquad_answered_alpaca.jsonl.gz"


def kinds(store: ArtifactStore) -> list[str]:
    return sorted({path.split("/", 1)[0] for path in store.list("") if "/" in path})


def assert_whole(store: ArtifactStore) -> int:
    """Every manifest lists files that are all there with the listed bytes; returns how
    many artifacts the store holds. Files without a manifest may exist (a killed writer's)
    but are never an artifact."""
    count = 0
    for kind in kinds(store):
        for key in store.artifacts(kind):
            manifest = store.manifest(kind, key)
            for name, listed in manifest["files"].items():
                assert store.digest(store.artifact_path(kind, key, name)) == (listed["bytes"], listed["sha256"]), \
                    f"{kind}/{key}/{name} differs from its manifest"
            count += 1
    return count


def snapshot(store: ArtifactStore) -> dict[tuple[str, str], dict[str, Any]]:
    """Each artifact's files (sizes and digests) and summary, without wall-clock fields."""
    found = {}
    for kind in kinds(store):
        for key in store.artifacts(kind):
            manifest = store.manifest(kind, key)
            found[(kind, key)] = {"files": manifest["files"], "summary": _untimed(manifest["summary"])}
    return found


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def partial_artifacts(store: ArtifactStore) -> list[str]:
    """Artifact folders with files but no manifest yet: a writer caught mid-publish."""
    folders: dict[str, set[str]] = {}
    for path in store.list(""):
        parts = path.split("/")
        if len(parts) >= 3:
            folders.setdefault("/".join(parts[:2]), set()).add(parts[-1])
    return sorted(folder for folder, names in folders.items() if MANIFEST not in names)


def cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(AUTODP), *args], env=env, capture_output=True, text=True, timeout=timeout)


def kill_when(args: list[str], env: dict[str, str], ready, timeout: float = 300) -> bool:
    """Start the command, SIGKILL it as soon as ``ready()`` is true; False when it finished
    first."""
    process = subprocess.Popen([str(AUTODP), *args], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if ready():
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return True
            if time.monotonic() > deadline:
                raise TimeoutError(f"{args} ran past {timeout} s")
            time.sleep(0.005)
        return False
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def kill_after(args: list[str], env: dict[str, str], seconds: float) -> bool:
    started = time.monotonic()
    return kill_when(args, env, lambda: time.monotonic() - started > seconds)


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["AUTODP_HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture(scope="session")
def medquad() -> Path:
    if not MEDQUAD.is_file():
        pytest.fail(f"{MEDQUAD} is missing: the fault tests read MedQuAD from ../shared/datasets")
    return MEDQUAD


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def target(request, tmp_path, cli_env):
    """(store URI for the CLI, the same store opened here, the CLI's environment)."""
    if request.param == "local":
        root = tmp_path / "store"
        return str(root), LocalStore(root), cli_env
    from autodp.store.s3 import S3Store

    server = request.getfixturevalue("s3_server")
    prefix = f"faults-{uuid.uuid4().hex[:10]}"
    env = {**cli_env, "AWS_ENDPOINT_URL": server["endpoint_url"], "AWS_ACCESS_KEY_ID": server["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": server["secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1"}
    store = S3Store(server["bucket"], prefix, endpoint_url=server["endpoint_url"], region="us-east-1",
                    access_key_id=server["access_key_id"], secret_access_key=server["secret_access_key"])
    return f"s3://{server['bucket']}/{prefix}", store, env


@pytest.fixture(scope="session")
def reference(tmp_path_factory, medquad):
    """The uninterrupted run: ingest then apply, on a local store of its own."""
    root = tmp_path_factory.mktemp("reference")
    env = {**os.environ, "AUTODP_HOME": str(root / "home")}
    strategy = root / "strategy.json"
    strategy.write_text(json.dumps(STRATEGY))
    ingested = cli(["ingest", str(medquad), "--store", str(root / "store"), "--json"], env)
    assert ingested.returncode == 0, ingested.stderr
    key = json.loads(ingested.stdout)["dataset_key"]
    applied = cli(["apply", key, "--strategy", str(strategy), "--store", str(root / "store"), "--json"], env)
    assert applied.returncode == 0, applied.stderr
    return {"key": key, "strategy": strategy, "store": LocalStore(root / "store"),
            "rows_out": json.loads(applied.stdout)["rows_out"]}
