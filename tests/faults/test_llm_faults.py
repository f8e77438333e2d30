"""LLM endpoint faults from a real local HTTP server: 500s, 429 with Retry-After, timeouts,
connection refused, invalid JSON, a cut-off body, answers that break their schema. The
client retries within bounds; what still fails is counted by reason, the records it was
for are left as they were, and the step is stored apart from a complete run's."""

from __future__ import annotations

import json
import socket
import time

import openai
import pyarrow.parquet as pq
import pytest

from autodp.execution.executor import apply_strategy, prefix_keys
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.llm.client import ChatRequest, FailedAnswer, LLMClient
from autodp.llm.endpoints import Endpoint, endpoints_from_env
from autodp.operators.resources import Resources
from autodp.settings import Settings
from autodp.store import LocalStore
from tests.conftest import write_lines
from tests.faults.faulty_llm import OK, FaultyLLM


def client_for(server_url: str, **options) -> LLMClient:
    return LLMClient(Endpoint("data", server_url, "faulty", trusted=True), **options)


def ask() -> ChatRequest:
    return ChatRequest.of([{"role": "user", "content": "rate"}], max_tokens=8)


@pytest.mark.parametrize("fault", [("status", 500), ("status", 503), ("retry_after", 1), ("hang", 3),
                                   ("invalid_json",), ("truncated",), ("no_choices",)])
def test_a_transient_fault_is_retried_and_the_answer_arrives(fault):
    with FaultyLLM([fault, fault, OK]) as server:
        client = client_for(server.base_url, timeout_s=1.0, max_retries=3)
        started = time.monotonic()
        assert client.chat(ask()) == '{"score": 7}'
        assert len(server.requests) == 3
        assert client.usage.failed == 0 and client.usage.calls == 1
        if fault[0] == "retry_after":  # the server's Retry-After is honoured between attempts
            gaps = [b[0] - a[0] for a, b in zip(server.requests, server.requests[1:])]
            assert min(gaps) >= 0.9, gaps
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("fault, reason", [(("status", 500), "http_500"), (("retry_after", 0), "rate_limited"),
                                           (("hang", 3), "timeout"), (("invalid_json",), "invalid_response"),
                                           (("truncated",), "connection_failed"),
                                           (("no_choices",), "invalid_response")])
def test_a_fault_that_persists_stops_after_the_retry_bound_and_is_counted(fault, reason):
    with FaultyLLM([fault]) as server:
        strict = client_for(server.base_url, timeout_s=1.0, max_retries=2)
        with pytest.raises((openai.APIError, ValueError)):
            strict.chat(ask())
        assert len(server.requests) == 3  # one call and two retries, never more
        going = client_for(server.base_url, timeout_s=1.0, max_retries=2, keep_going=True)
        answer = going.chat(ask())
        assert isinstance(answer, FailedAnswer) and answer == "" and answer.reason == reason
        assert going.usage.failures == {reason: 1} and going.usage.failed == 1


def test_connection_refused_is_counted_without_hanging():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}/v1", timeout_s=2.0, max_retries=2, keep_going=True)
    started = time.monotonic()
    answer = client.chat(ask())
    assert answer.reason == "connection_failed" and time.monotonic() - started < 20


RECORDS = [{"instruction": f"Explain condition number {i} in plain words", "output": f"Condition {i} is short."}
           for i in range(12)]
REWRITE = Strategy.from_data({"name": "rewrite", "steps": [{"operator": "normalize_text"},
                                                                 {"operator": "rewrite_response"},
                                                                 {"operator": "exact_dedup"}]})


@pytest.mark.parametrize("script, reason", [([("status", 500)], "http_500"),
                                            ([("ok", "not json at all")], "unreadable_answer")])
def test_an_operator_whose_llm_keeps_failing_leaves_its_records_as_they_were_and_says_so(tmp_path, script, reason):
    source = write_lines(tmp_path / "data.jsonl", [json.dumps(r) for r in RECORDS])
    store = LocalStore(tmp_path / "store")
    dataset = ingest(str(source), store)["dataset_key"]
    with FaultyLLM(script) as server:
        endpoints = {**endpoints_from_env(), "data": Endpoint("data", server.base_url, "faulty", trusted=True)}
        resources = Resources(settings=Settings(home=tmp_path / "home", store_uri=str(store.root)), endpoints=endpoints)
        result = apply_strategy(dataset, REWRITE, store, resources)
    rewrite = result["steps"][1]
    assert rewrite["rows_in"] == rewrite["rows_out"] == len(RECORDS)
    assert rewrite["changed"] == {} and rewrite["dropped"] == {}
    assert rewrite["llm_failures"].get(reason, 0) >= 1 and result["llm_failures"] == rewrite["llm_failures"]
    failed = pq.read_table(store.file_location("datasets", rewrite["key"], "llm_failures.parquet")).to_pylist()
    assert sorted(f["source_row"] for f in failed) == list(range(1, len(RECORDS) + 1))  # every record, by row
    assert {(f["operator"], f["reason"]) for f in failed} == {("rewrite_response", reason)}
    assert sum(f["calls"] for f in failed) == rewrite["llm_failures"][reason]
    assert rewrite["llm_failed_records"] == len(RECORDS) and all(f["record_id"] for f in failed)
    records = pq.read_table(store.file_location("datasets", result["output_key"], "records.parquet")).to_pylist()
    assert [r["output"] for r in records] == [r["output"] for r in RECORDS]
    complete = prefix_keys(dataset, REWRITE, resources)
    assert result["steps"][0]["key"] == complete[0]  # the step before the failures is the complete run's
    assert rewrite["key"] != complete[1] and result["output_key"] != complete[2]
    assert not store.has("datasets", complete[1])  # a later run recomputes it rather than reuse it
