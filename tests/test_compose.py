"""The production compose file: no Docker engine runs here, so this checks what can be
checked: it parses, has the production topology, names the connections the DAGs use, and
its image installs autodp with the project's own install script."""

import json
from pathlib import Path

import pytest
import yaml

from autodp.orchestration.support import LLM_CONN_IDS, STORE_CONN_ID, store_from_connection_fields

DOCKER = Path(__file__).resolve().parents[1] / "docker"
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-worker-gpu"]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_it_has_the_production_topology(compose):
    services = compose["services"]
    assert {"postgres", "redis", "minio", "llm", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    commands = {name: " ".join(services[name]["command"]) for name in AIRFLOW_SERVICES}
    assert commands["airflow-worker"].endswith("--queues default")
    assert "--queues gpu" in commands["airflow-worker-gpu"]
    [device] = services["airflow-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]
    assert "airflow pools set gpu" in services["airflow-init"]["command"]


def test_every_airflow_service_names_the_connections_the_dags_use(compose):
    for name in AIRFLOW_SERVICES + ["airflow-init"]:
        env = compose["services"][name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AUTODP_GPU_POOL"] == env["AUTODP_GPU_QUEUE"] == "gpu", name
        for conn_id in [STORE_CONN_ID, *LLM_CONN_IDS.values()]:
            assert f"AIRFLOW_CONN_{conn_id.upper()}" in env, (name, conn_id)
    env = compose["services"]["airflow-worker"]["environment"]
    store = json.loads(env["AIRFLOW_CONN_AUTODP_STORE"])
    s3 = store_from_connection_fields(store["login"], store["password"], store["extra"])
    assert s3.uri.startswith("s3://autodp/")
    llm = {role: json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"]) for role, conn_id in LLM_CONN_IDS.items()}
    assert llm["data"]["extra"]["trusted"] and llm["judge"]["extra"]["trusted"] and llm["teacher"]["extra"]["trusted"]
    assert all(c["host"].startswith("http://llm:") for c in llm.values())


def test_every_airflow_service_sends_lineage_over_http(compose):
    from openlineage.client.transport.http import HttpConfig

    for name in AIRFLOW_SERVICES:
        env = compose["services"][name]["environment"]
        config = HttpConfig.from_dict(json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"]))
        assert config.url.startswith("http://") and env["AIRFLOW__OPENLINEAGE__NAMESPACE"] == "autodp", name


def test_the_image_installs_with_the_projects_own_script():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM apache/airflow:3.3" in dockerfile
    assert 'RUN scripts/install.sh "$(command -v python)" --image' in dockerfile
    makefile = (DOCKER.parent / "Makefile").read_text()
    assert "scripts/install.sh $(BIN)/python" in makefile
