"""One client for every LLM call: bounded concurrency, timeouts, retries with backoff
(the openai client's, which honours Retry-After), a content-addressed response cache,
and token accounting.

Requests are sent concurrently up to ``max_concurrency`` so the server is kept busy;
answers come back in request order. A cached answer costs no call and no tokens.

A call that still fails after its retries raises, unless the client was made with
``keep_going``: then its answer is a ``FailedAnswer`` (empty text, with the reason), which
every operator reads as no answer and so leaves its record as it is, and the failure is
counted by reason in ``usage.failures``. An answer the server sends but that is not valid
JSON, or is cut off, is retried like a dropped connection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodp.llm.endpoints import Endpoint


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[tuple[str, str], ...]
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 0
    json_schema: str | None = None  # canonical JSON text of a schema, to constrain output

    @classmethod
    def of(cls, messages: Sequence[dict[str, str]], **options: Any) -> ChatRequest:
        schema = options.pop("json_schema", None)
        if schema is not None and not isinstance(schema, str):
            schema = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        return cls(tuple((m["role"], m["content"]) for m in messages), json_schema=schema, **options)


log = logging.getLogger(__name__)


class FailedAnswer(str):
    """The answer to a call that failed after its retries: empty text, and why."""

    reason: str

    def __new__(cls, reason: str) -> FailedAnswer:
        answer = super().__new__(cls, "")
        answer.reason = reason
        return answer


@dataclass
class Usage:
    calls: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # reason -> calls given up on, answers unreadable
    # (source_row, reason) of each such call an operator made for a record, in call order.
    failed_rows: list[tuple[int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def failure(self, reason: str) -> None:
        with self._lock:
            self.failures[reason] += 1

    def row_failure(self, row: int, reason: str) -> None:
        with self._lock:
            self.failed_rows.append((row, reason))

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        return {"calls": self.calls, "cached": self.cached, "failed": self.failed,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "failures": dict(sorted(self.failures.items()))}


def failure_reason(error: Exception) -> str:
    """A short, stable name for why a call failed (never the message: it may echo the key)."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection_failed"
    if isinstance(error, openai.APIStatusError):
        return "rate_limited" if error.status_code == 429 else f"http_{error.status_code}"
    if isinstance(error, (openai.APIResponseValidationError, ValueError)):
        return "invalid_response"
    return type(error).__name__


class LLMClient:
    def __init__(
        self,
        endpoint: Endpoint,
        cache_dir: Path | None = None,
        max_concurrency: int = 4,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        keep_going: bool = False,
    ):
        from openai import OpenAI

        self.endpoint = endpoint
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.keep_going = keep_going
        self.usage = Usage()
        self._openai = OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key,
                              timeout=timeout_s, max_retries=max_retries)
        self._cache = None
        if cache_dir is not None:
            import diskcache

            self._cache = diskcache.Cache(str(cache_dir))

    def chat(self, request: ChatRequest) -> str:
        return self.chat_many([request])[0]

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[str]:
        """Answers in request order. A call that still fails after its retries raises."""
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(requests))) as pool:
            return list(pool.map(self._answer, requests))

    def _answer(self, request: ChatRequest) -> str:
        key = self._cache_key(request)
        if self._cache is not None:
            hit = self._cache.get(key)
            if hit is not None:
                self.usage.add(cached=1)
                return hit
        options: dict[str, Any] = {}
        if request.json_schema is not None:
            # llama.cpp's server takes a schema this way (it rejects "json_schema").
            options["response_format"] = {"type": "json_object", "schema": json.loads(request.json_schema)}
        try:
            response = self._create(request, options)
        except Exception as error:
            self.usage.add(calls=1, failed=1)
            if not self.keep_going:
                raise
            reason = failure_reason(error)
            self.usage.failure(reason)
            log.warning("LLM call to %s failed after its retries (%s); the record is left as it is",
                        self.endpoint.base_url, reason)
            return FailedAnswer(reason)
        text = response.choices[0].message.content or ""
        usage = response.usage
        self.usage.add(calls=1, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                       completion_tokens=getattr(usage, "completion_tokens", 0) or 0)
        if self._cache is not None:
            self._cache.set(key, text)
        return text

    def _create(self, request: ChatRequest, options: dict[str, Any]) -> Any:
        """The openai client retries status codes, timeouts and dropped connections; a
        body that does not parse (cut off, not JSON) is retried here, as often."""
        import openai

        for attempt in range(self.max_retries + 1):
            try:
                response = self._openai.chat.completions.create(
                    model=self.endpoint.model,
                    messages=[{"role": role, "content": content} for role, content in request.messages],
                    max_tokens=request.max_tokens,
                    temperature=request.temperature,
                    seed=request.seed,
                    **options,
                )
                if not getattr(response, "choices", None):
                    raise ValueError("the answer has no choices")
                return response
            except (openai.APIResponseValidationError, ValueError):  # JSONDecodeError is a ValueError
                if attempt == self.max_retries:
                    raise
        raise AssertionError("unreachable")

    def _cache_key(self, request: ChatRequest) -> str:
        material = json.dumps([self.endpoint.base_url, self.endpoint.model, request.messages, request.max_tokens,
                               request.temperature, request.seed, request.json_schema])
        return hashlib.sha256(material.encode()).hexdigest()

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
        self._openai.close()
