"""The governance log: who approved, rejected or retired what, when and why.

Every decision is its own artifact (``decisions/<key>/``), keyed by its content and time,
so the log is append-only on any store: nothing is rewritten, and two reviewers deciding
at once add two entries. A published search becomes a recipe only through an approval; a
rejected one never does; a retired recipe is refused by ``autodp_curate``. The reviewer
is who the caller authenticated (the Airflow user in the review app, the operating-system
account in the CLI), never a typed name.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from autodp.artifacts import DECISION_FILE, DECISIONS, PUBLISHED
from autodp.hashing import content_key
from autodp.store import ArtifactNotFound, ArtifactStore

Action = Literal["approve", "reject", "retire"]
DECISION_VERSION = "1"


class DecisionRefused(ValueError):
    """The decision contradicts the log (approving a rejected search, retiring twice...)."""


@dataclass(frozen=True)
class Reviewer:
    name: str
    via: Literal["airflow", "cli"]

    @classmethod
    def from_cli(cls) -> Reviewer:
        return cls(getpass.getuser(), "cli")

    def __str__(self) -> str:
        return f"{self.name} ({self.via})"


def record(store: ArtifactStore, action: Action, reviewer: Reviewer, reason: str, published_key: str,
           **details: Any) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise ValueError(f"a decision to {action} needs a reason")
    if not reviewer.name.strip():
        raise ValueError("a decision needs an authenticated reviewer")
    decision = {"action": action, "published_key": published_key, "reason": reason.strip(),
                "by": reviewer.name, "via": reviewer.via,
                "at": datetime.now(UTC).isoformat(timespec="microseconds"), **details}
    key = content_key("decision", DECISION_VERSION, decision)
    store.publish_json(DECISIONS, key, {DECISION_FILE: decision}, provenance={"step": "decide", **decision},
                       summary={k: decision[k] for k in ("action", "published_key", "by", "at")})
    return {"decision_key": key, **decision}


def decisions(store: ArtifactStore, published_key: str | None = None) -> list[dict[str, Any]]:
    """The log in time order, or only the decisions about one published search."""
    found = []
    for key in store.artifacts(DECISIONS):
        summary = store.manifest(DECISIONS, key)["summary"]
        if published_key is None or summary["published_key"] == published_key:
            found.append({"decision_key": key, **store.read_json(DECISIONS, key, DECISION_FILE)})
    return sorted(found, key=lambda d: (d["at"], d["decision_key"]))


def review_status(store: ArtifactStore, published_key: str) -> dict[str, Any]:
    return status_of(decisions(store, published_key))


def status_of(log: list[dict[str, Any]]) -> dict[str, Any]:
    """From one published search's decisions in time order: ``pending``, ``approved`` (with
    the latest approval) or ``rejected`` (with the rejection)."""
    rejected = next((d for d in log if d["action"] == "reject"), None)
    if rejected:
        return {"status": "rejected", "decision": rejected}
    approvals = [d for d in log if d["action"] == "approve"]
    if approvals:
        return {"status": "approved", "decision": approvals[-1]}
    return {"status": "pending", "decision": None}


def check_can_approve(store: ArtifactStore, published_key: str) -> None:
    status = review_status(store, _published(store, published_key))
    if status["status"] == "rejected":
        rejected = status["decision"]
        raise DecisionRefused(f"published search {published_key} was rejected by {rejected['by']} at "
                              f"{rejected['at']} ({rejected['reason']}): it cannot become a recipe")


def reject(store: ArtifactStore, published_key: str, reviewer: Reviewer, reason: str) -> dict[str, Any]:
    status = review_status(store, _published(store, published_key))
    if status["status"] != "pending":
        decided = status["decision"]
        advice = "; retire its recipe instead" if status["status"] == "approved" else ""
        raise DecisionRefused(f"published search {published_key} is already {status['status']} by "
                              f"{decided['by']} at {decided['at']}{advice}")
    return record(store, "reject", reviewer, reason, published_key)


def _published(store: ArtifactStore, published_key: str) -> str:
    if not store.has(PUBLISHED, published_key):
        raise ArtifactNotFound(f"no published search {published_key!r}")
    return published_key
