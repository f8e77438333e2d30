"""A canary API key, set where a deployment sets it, never appears in what autodp writes:
output, error lines, the store, its caches, the agent's audit log, an endpoint's repr, and
under Airflow its task logs, XCom and metadata database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autodp.cli import one_line
from autodp.llm.client import ChatRequest, LLMClient
from autodp.llm.endpoints import Endpoint
from autodp.search.agent import AuditLog
from tests.conftest import write_lines
from tests.faults.conftest import cli
from tests.faults.faulty_llm import FaultyLLM

CANARY = "sk-canary-7f3a9c1e5b2d4f60"


def _files_containing(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_canary_key_reaches_the_endpoint_and_nothing_else(tmp_path, cli_env):
    records = [{"instruction": f"Explain condition {i}", "output": f"Condition {i} is short."} for i in range(6)]
    source = write_lines(tmp_path / "data.jsonl", [json.dumps(r) for r in records])
    strategy = tmp_path / "strategy.json"
    strategy.write_text(json.dumps({"name": "rewrite", "steps": [{"operator": "rewrite_response"}]}))
    store = tmp_path / "store"
    # The endpoint refuses every call with an error that quotes the key it was sent, as some do.
    with FaultyLLM([("status", 401)]) as server:
        server.echo_authorization = True
        env = {**cli_env, "AUTODP_DATA_LLM_BASE_URL": server.base_url, "AUTODP_DATA_LLM_API_KEY": CANARY,
               "AUTODP_DATA_LLM_TRUSTED": "true", "AUTODP_AGENT_LLM_API_KEY": CANARY,
               "AUTODP_JUDGE_LLM_API_KEY": CANARY}
        ingested = cli(["ingest", str(source), "--store", str(store), "--json"], env)
        key = json.loads(ingested.stdout)["dataset_key"]
        applied = cli(["apply", key, "--strategy", str(strategy), "--store", str(store), "--json"], env)
        sent = [headers.get("authorization", "") for headers in server.headers]
    assert applied.returncode == 0, applied.stderr
    assert sent and all(h == f"Bearer {CANARY}" for h in sent)  # the key did reach the endpoint
    assert json.loads(applied.stdout)["llm_failures"] == {"http_401": len(records)}
    assert CANARY not in applied.stdout + applied.stderr + ingested.stdout + ingested.stderr
    assert _files_containing(tmp_path / "store", CANARY) == []
    assert _files_containing(Path(cli_env["AUTODP_HOME"]), CANARY) == []


def test_a_refusal_that_quotes_the_key_is_redacted_in_error_lines_and_the_audit_log():
    with FaultyLLM([("status", 401)]) as server:
        server.echo_authorization = True
        endpoint = Endpoint("agent", server.base_url, "faulty", api_key=CANARY)
        assert CANARY not in repr(endpoint)
        client = LLMClient(endpoint, max_retries=0)
        try:
            client.chat(ChatRequest.of([{"role": "user", "content": "propose"}]))
        except Exception as error:  # noqa: BLE001
            message = str(error)
    assert CANARY in message  # the server did quote it: the redaction is what keeps it out
    assert CANARY not in one_line(message) and "***" in one_line(message)
    audit = AuditLog()
    audit.record("propose", [{"role": "user", "content": "aggregates"}], f"error: {message}")
    assert CANARY not in audit.jsonl()


@pytest.mark.airflow
def test_a_canary_key_in_airflow_connections_stays_out_of_logs_xcom_and_the_metadata_db(airflow_db, tmp_path):
    """autodp_search through `airflow dags test`, its agent and data LLM configured as Airflow
    connections whose password is the canary, against an endpoint that quotes the key back:
    the key reaches the endpoint and appears in no task log, XCom or row of Airflow's
    database, nor in the store or autodp's home."""
    lines = [json.dumps({"instruction": f"Question {i} about asthma?", "output": f"Answer {i % 5}: see a doctor."})
             for i in range(60)]
    source = write_lines(tmp_path / "qa.jsonl", lines)
    store, home = tmp_path / "store", tmp_path / "home"
    conf = {"source": str(source), "store": str(store), "method": "agent", "iterations": 1, "candidates": 1,
            "model": "tiny", "lora_steps": 2, "sample_size": 30, "eval_size": 6, "confirm_top": 0}
    with FaultyLLM([("status", 401)]) as server:
        server.echo_authorization = True
        connection = {"conn_type": "http", "host": server.base_url, "password": CANARY}
        env = {**os.environ, "AUTODP_HOME": str(home),
               "AIRFLOW_CONN_AUTODP_LLM_AGENT": json.dumps({**connection, "extra": {"model": "m", "trusted": False}}),
               "AIRFLOW_CONN_AUTODP_LLM_DATA": json.dumps({**connection, "extra": {"model": "m", "trusted": True}})}
        ran = subprocess.run([str(Path(sys.executable).parent / "airflow"), "dags", "test", "autodp_search",
                              "--conf", json.dumps(conf)], env=env, capture_output=True, text=True, timeout=900)
        sent = [headers.get("authorization", "") for headers in server.headers]
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert sent and all(h == f"Bearer {CANARY}" for h in sent)  # the agent's calls did carry it
    assert CANARY not in ran.stdout + ran.stderr
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    assert _files_containing(airflow_home, CANARY) == []  # task logs, airflow.db (XCom, rendered fields)
    assert _files_containing(store, CANARY) == [] and _files_containing(home, CANARY) == []
