"""The four LLM roles and where each one's endpoint is.

- ``agent``: proposes strategies; sees aggregates only, so any endpoint will do.
- ``data``: LLM operators that read records (rewrite, rate, generate);
- ``judge``: compares two models' answers to evaluation prompts;
- ``teacher``: annotates seed records for distilling augmentation models (autodp distill).

The last three read records, so they must be *trusted* (the local server, or an endpoint in
the customer's network marked trusted); operators refuse an untrusted one.

Outside Airflow each is configured by environment variables ``AUTODP_<ROLE>_LLM_BASE_URL``,
``_MODEL``, ``_API_KEY`` and ``_TRUSTED``; in an Airflow task by the connection
``autodp_llm_<role>`` (``Endpoint.from_connection``). The embedded default is the local
llama.cpp server. Endpoints are values a task passes down in its ``Resources``: nothing
here writes the environment.

An endpoint's API key is never shown: it is left out of the endpoint's repr, and every
key an endpoint was made with is replaced by ``***`` in what autodp writes about a call
(``redact``: error lines, the agent's audit log).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

ROLES = ("agent", "data", "judge", "teacher")
LOCAL_HOST = "127.0.0.1"
LOCAL_PORT = 8765
LOCAL_MODEL = "smollm2-135m-instruct"
NO_KEY = "local"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def redact(text: str) -> str:
    """``text`` with every API key an endpoint was made with replaced by ``***``."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, "***")
    return text


class UntrustedEndpoint(RuntimeError):
    """An operator that reads records was pointed at an endpoint not marked trusted."""


@dataclass(frozen=True)
class Endpoint:
    role: str
    base_url: str
    model: str
    api_key: str = field(default=NO_KEY, repr=False)
    trusted: bool = False

    def __post_init__(self) -> None:
        if self.api_key and self.api_key != NO_KEY:
            with _secrets_lock:
                _secrets.add(self.api_key)

    @classmethod
    def from_env(cls, role: str) -> Endpoint:
        if role not in ROLES:
            raise ValueError(f"unknown LLM role {role!r}; expected one of {ROLES}")
        prefix = f"AUTODP_{role.upper()}_LLM_"
        base_url = os.environ.get(prefix + "BASE_URL", f"http://{LOCAL_HOST}:{LOCAL_PORT}/v1")
        trusted_setting = os.environ.get(prefix + "TRUSTED")
        trusted = _is_loopback(base_url) if trusted_setting is None else trusted_setting.lower() in ("1", "true", "yes")
        return cls(role, base_url, os.environ.get(prefix + "MODEL", LOCAL_MODEL),
                   os.environ.get(prefix + "API_KEY", NO_KEY), trusted)

    @classmethod
    def from_connection(cls, role: str, host: str | None, password: str | None, extra: dict[str, Any],
                        conn_id: str) -> Endpoint:
        """From an Airflow connection: host = the OpenAI-compatible base URL, password = the
        API key, extra ``model`` and ``trusted`` (default: trusted only on loopback)."""
        if not host:
            raise ValueError(f"connection {conn_id!r}: host must be the endpoint's base URL")
        trusted = extra.get("trusted")
        return cls(role, host, extra.get("model") or LOCAL_MODEL, password or NO_KEY,
                   _is_loopback(host) if trusted is None else str(trusted).lower() in ("1", "true", "yes"))

    def require_trusted(self, purpose: str) -> None:
        if not self.trusted:
            raise UntrustedEndpoint(
                f"{purpose} reads records, but the {self.role} endpoint {self.base_url} is not trusted; "
                f"set AUTODP_{self.role.upper()}_LLM_TRUSTED=true only for an endpoint inside your network"
            )


def endpoints_from_env() -> dict[str, Endpoint]:
    return {role: Endpoint.from_env(role) for role in ROLES}


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
