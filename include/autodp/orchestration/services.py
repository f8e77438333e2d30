"""Airflow's api-server, scheduler and dag-processor on loopback, with autodp's DAGs and
its review plugin: what ``autodp ui`` starts on the main job's Airflow home, and what the
browser and REST tests start on theirs.

The simple auth manager holds the users (``name:role``); their passwords live in the
Airflow home's password file, made once with random passwords and then reused, so the
login printed is the login that works.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from autodp.orchestration.main_job import airflow_environment
from autodp.orchestration.notes import CONNECTION as NOTES_CONNECTION
from autodp.settings import Settings

REPO = Path(__file__).resolve().parents[3]
DAGS_FOLDER, PLUGINS_FOLDER = REPO / "dags", REPO / "plugins"
SERVICES = ("api-server", "scheduler", "dag-processor")
PASSWORDS_FILE = "simple_auth_manager_passwords.json"


def passwords(home: Path, users: dict[str, str]) -> dict[str, str]:
    """Each user's password from the home's password file, adding random ones for new users."""
    path = home / PASSWORDS_FILE
    known = json.loads(path.read_text()) if path.is_file() else {}
    missing = {name: secrets.token_urlsafe(12) for name in users if name not in known}
    if missing:
        path.write_text(json.dumps(known | missing) + "\n")
        path.chmod(0o600)
    return {name: (known | missing)[name] for name in users}


def services_environment(settings: Settings, port: int, users: dict[str, str], dags_folder: Path = DAGS_FOLDER,
                         plugins_folder: Path = PLUGINS_FOLDER) -> dict[str, str]:
    env = airflow_environment(settings, dags_folder)
    home = Path(env["AIRFLOW_HOME"])
    secret_file = home / "jwt_secret"
    if not secret_file.is_file():
        secret_file.write_text(secrets.token_urlsafe(32))
        secret_file.chmod(0o600)
    # The connection tasks write their run's note through (orchestration.notes), as the admin.
    notes = ({f"AIRFLOW_CONN_{NOTES_CONNECTION.upper()}": json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "login": "admin",
        "password": passwords(home, users)["admin"]})} if "admin" in users else {})
    return {**env, **notes,
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Only what a person or test unpauses runs: autodp_curate's schedule would start runs of its own.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{n}:{r}" for n, r in users.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text(),
            "AUTODP_STORE": settings.store_uri}


@dataclass
class AirflowServices:
    """The three services of one Airflow home, started together and stopped together."""

    env: dict[str, str]
    port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, service: str) -> Path:
        return self.home / f"{service}.log"

    def start(self, timeout: float = 300) -> AirflowServices:
        airflow = str(Path(sys.executable).parent / "airflow")
        migrated = subprocess.run([airflow, "db", "migrate"], env=self.env, capture_output=True, text=True,
                                  timeout=timeout)
        if migrated.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
        for service in SERVICES:
            with open(self.log(service), "w") as sink:
                self.processes.append(subprocess.Popen([airflow, service], env=self.env, stdout=sink,
                                                       stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                self.stop()
                raise RuntimeError(f"Airflow's api-server did not come up; see {self.log('api-server')}:\n"
                                   + self.log("api-server").read_text()[-3000:])
            time.sleep(2)
        return self

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def token(self, user: str, password: str) -> str:
        response = httpx.post(f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=30)
        response.raise_for_status()
        return response.json()["access_token"]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
