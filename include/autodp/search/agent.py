"""The strategy agent: proposes strategies from aggregates and scores, never from records.

Its context is built from the profile, the sample's fidelity headline, the operator
catalogue and the history of evaluated strategies with their scores: nothing else is in
scope here, so nothing from a record can reach it. Proposals are JSON constrained by a
schema naming the allowed operators; each is validated against the catalogue, repaired
(unknown operators and bad parameters are dropped) or asked for again, and a canonical
strategy already evaluated is never proposed twice. Every prompt and response is
recorded in the run's audit log.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from pydantic import ValidationError

from autodp import operators
from autodp.llm.client import ChatRequest, LLMClient
from autodp.operators.base import Stage
from autodp.search.state import Trial
from autodp.strategy import Strategy, StrategyError

MAX_STEPS = 6
SYSTEM = ("You design data-processing strategies for instruction-tuning datasets. You see only aggregate "
          "statistics and the scores earlier strategies got. A strategy is an ordered list of operators from "
          "the catalogue. Propose new strategies likely to score higher than the best so far.")


@dataclass
class AuditLog:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, purpose: str, messages: list[dict[str, str]], response: str) -> None:
        self.entries.append({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                             "purpose": purpose, "messages": messages, "response": response})

    def jsonl(self) -> str:
        return "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in self.entries)


def agent_context(profile: dict[str, Any], fidelity: dict[str, Any], allowed: list[str],
                  history: list[Trial]) -> dict[str, Any]:
    """Everything the agent sees. Built from aggregates only; see tests/search/test_search.py."""
    catalogue = [{"name": e["name"], "stage": e["stage"], "does": e["description"],
                  "params": {k: p.get("default") for k, p in e["parameters"].get("properties", {}).items()}}
                 for e in operators.catalogue() if e["name"] in allowed]
    fields = {name: {k: v for k, v in stats.items() if k.endswith("_rate") or k in ("chars_p50", "chars_p95",
                                                                                   "tokens_p50")}
              for name, stats in profile.get("fields", {}).items()}
    return {
        "dataset_profile": {"rows": profile.get("rows"), "fields": fields,
                            "duplicates": {k: v for k, v in profile.get("duplicates", {}).items() if "rate" in k},
                            "languages": profile.get("languages", {}).get("shares")},
        "sample_fidelity": fidelity,
        "operators": catalogue,
        "history": [{"steps": [s["operator"] if not s["params"] else s for s in h.steps], "score": h.score,
                     "ci95": h.ci95, "rows_out": h.rows_out} for h in history],
    }


def proposal_schema(allowed: list[str], count: int) -> dict[str, Any]:
    step = {"type": "object", "properties": {"operator": {"type": "string", "enum": allowed},
                                             "params": {"type": "object"}}, "required": ["operator"]}
    strategy = {"type": "object", "properties": {"steps": {"type": "array", "items": step, "minItems": 1,
                                                           "maxItems": MAX_STEPS}}, "required": ["steps"]}
    return {"type": "object", "properties": {"strategies": {"type": "array", "items": strategy, "minItems": 1,
                                                            "maxItems": count}}, "required": ["strategies"]}


class StrategyAgent:
    def __init__(self, client: LLMClient, allowed: list[str], audit: AuditLog, seed: int = 0, attempts: int = 2):
        self.client, self.allowed, self.audit, self.attempts = client, allowed, audit, attempts
        self.rng = random.Random(seed)
        self.repairs = 0
        self.failures = 0

    def propose(self, context: dict[str, Any], count: int, seen: set[str]) -> list[tuple[Strategy, str]]:
        """``count`` new strategies, each with its origin: 'agent' or 'random_fill'."""
        found: list[tuple[Strategy, str]] = []
        for attempt in range(self.attempts):
            messages = [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": "Context:\n" + json.dumps(context, sort_keys=True) +
                         f"\n\nPropose {count} new strategies as JSON."}]
            request = ChatRequest.of(messages, max_tokens=512, temperature=0.7, seed=self.rng.randrange(1 << 30),
                                     json_schema=proposal_schema(self.allowed, count))
            try:
                response = self.client.chat(request)
            except Exception as error:  # the endpoint refused (context too long, overloaded): fall back
                self.audit.record(f"propose (attempt {attempt + 1})", messages, f"error: {error}")
                self.failures += 1
                break
            self.audit.record(f"propose (attempt {attempt + 1})", messages, response)
            for steps in _proposed(response):
                strategy = self._repair(steps)
                if strategy is not None and strategy.key() not in seen and len(found) < count:
                    seen.add(strategy.key())
                    found.append((strategy, "agent"))
            if len(found) == count:
                return found
        for strategy in random_strategies(count - len(found), self.rng, self.allowed, seen):
            found.append((strategy, "random_fill"))
        return found

    def _repair(self, steps: list[Any]) -> Strategy | None:
        kept = []
        for step in steps[:MAX_STEPS]:
            if not isinstance(step, dict) or step.get("operator") not in self.allowed:
                self.repairs += 1
                continue
            params = step.get("params") if isinstance(step.get("params"), dict) else {}
            try:
                operators.get(step["operator"]).Params(**params)
            except (ValidationError, TypeError):
                self.repairs += 1
                params = {}
            kept.append({"operator": step["operator"], "params": params})
        try:
            return Strategy.from_data(kept) if kept else None
        except StrategyError:
            self.repairs += 1
            return None


def random_strategies(count: int, rng: random.Random, allowed: list[str], seen: set[str],
                      max_steps: int = 4) -> list[Strategy]:
    """Random search: operators drawn from the allowed set, parameters at their defaults,
    in pipeline order (cleaning, selection, refinement, generation; within a stage, the
    order of ``allowed``)."""
    stages = list(get_args(Stage))
    order = {name: (stages.index(operators.get(name).stage), allowed.index(name)) for name in allowed}
    found: list[Strategy] = []
    for _ in range(count * 50):
        if len(found) == count:
            break
        names = sorted(rng.sample(allowed, k=rng.randint(1, min(max_steps, len(allowed)))), key=order.__getitem__)
        strategy = Strategy.from_data(names)
        if strategy.key() not in seen:
            seen.add(strategy.key())
            found.append(strategy)
    return found


def _proposed(response: str) -> list[list[Any]]:
    try:
        data = json.loads(response)
    except json.JSONDecodeError:
        return []
    strategies = data.get("strategies") if isinstance(data, dict) else None
    if not isinstance(strategies, list):
        return []
    return [s["steps"] for s in strategies if isinstance(s, dict) and isinstance(s.get("steps"), list)]
