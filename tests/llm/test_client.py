"""The LLM client against the real local server: order, cache, accounting, schema."""

import json

import pytest

from autodp.llm.client import ChatRequest, LLMClient
from autodp.llm.endpoints import LOCAL_MODEL, Endpoint
from autodp.llm.server import is_serving, smollm2_gguf


@pytest.fixture
def client(llm_server, tmp_path):
    client = LLMClient(Endpoint("data", llm_server.base_url, LOCAL_MODEL, trusted=True),
                       cache_dir=tmp_path / "cache", max_concurrency=3)
    yield client
    client.close()


def ask(text, **options):
    return ChatRequest.of([{"role": "user", "content": text}], max_tokens=24, **options)


def test_answers_come_back_in_request_order_and_are_cached(client):
    requests = [ask(f"Reply with the number {n} and nothing else.") for n in (3, 7, 9, 12)]
    first = client.chat_many(requests)
    assert client.usage.calls == 4 and client.usage.cached == 0
    assert client.usage.prompt_tokens > 0 and client.usage.completion_tokens > 0
    tokens = client.usage.completion_tokens
    again = client.chat_many(requests)
    assert again == first
    assert (client.usage.calls, client.usage.cached, client.usage.completion_tokens) == (4, 4, tokens)


def test_sampling_seed_is_part_of_the_cache_key(client):
    a = client.chat(ask("Name a fruit.", temperature=0.9, seed=1))
    b = client.chat(ask("Name a fruit.", temperature=0.9, seed=2))
    assert client.usage.calls == 2 and isinstance(a, str) and isinstance(b, str)


def test_json_schema_constrains_the_answer(client):
    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}},
              "required": ["score"]}
    answer = json.loads(client.chat(ask("Rate the sky from 1 to 10 as JSON.", json_schema=schema)))
    assert set(answer) == {"score"} and 1 <= answer["score"] <= 10


def test_server_failure_is_an_error_not_an_empty_answer(tmp_path):
    dead = LLMClient(Endpoint("data", "http://127.0.0.1:9/v1", LOCAL_MODEL, trusted=True), max_retries=0, timeout_s=2)
    import openai

    with pytest.raises(openai.APIConnectionError):
        dead.chat(ask("hello"))
    assert dead.usage.failed == 1


def test_the_model_ships_in_a_wheel(llm_server):
    assert smollm2_gguf().stat().st_size > 50_000_000
    assert is_serving(llm_server.base_url)


def test_endpoint_trust_defaults(monkeypatch):
    monkeypatch.delenv("AUTODP_DATA_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("AUTODP_DATA_LLM_TRUSTED", raising=False)
    assert Endpoint.from_env("data").trusted
    monkeypatch.setenv("AUTODP_DATA_LLM_BASE_URL", "https://api.example.com/v1")
    assert not Endpoint.from_env("data").trusted
    monkeypatch.setenv("AUTODP_DATA_LLM_TRUSTED", "true")
    assert Endpoint.from_env("data").trusted
