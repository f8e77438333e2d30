"""The strategy agent: proposes strategies from aggregates and scores, never from records.

Its context is built from the profile, the sample's fidelity headline, operator cards
(when each operator helps, and the share of the sample it would touch), the
profile-driven prior (``autodp.search.cards``) and a summary of the evaluated strategies
with their scores: nothing else is in scope here, so nothing from a record can reach it.
Proposals are JSON constrained by a schema that admits only lists of allowed operator
names; each is validated against the catalogue, repaired (repeated or unknown operators
dropped) or asked for again, naming the strategies it repeated, and a canonical strategy
already evaluated is never proposed twice. Before any strategy has a score, the prior's
whole strategy is one of the candidates; what the agent's answers leave short is filled
from the prior, then at random, each labelled with its origin. Every prompt and response
is recorded in the run's audit log.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from autodp import operators
from autodp.execution.strategy import Strategy, StrategyError
from autodp.llm.client import ChatRequest, LLMClient
from autodp.llm.endpoints import redact
from autodp.search.cards import PRIOR_MIN_SHARE, cards, in_pipeline_order, profile_prior
from autodp.search.state import Trial

MAX_STEPS = 5
SYSTEM = ("You design data-processing strategies for instruction-tuning datasets. You see only aggregate "
          "statistics and the scores earlier strategies got. A strategy is an ordered list of operator names from "
          "the catalogue, cleaning first. Propose new strategies likely to score higher than the best so far.")
EXAMPLE = {"strategies": [{"steps": ["normalize_text", "drop_empty_output", "exact_dedup"]},
                          {"steps": ["drop_empty_output", "truncation_filter"]}]}
HISTORY_SHOWN = 6  # the best strategies shown with their scores; the rest are summarised


@dataclass
class AuditLog:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, purpose: str, messages: list[dict[str, str]], response: str) -> None:
        """One exchange with the agent; an error an endpoint answered with may quote the API
        key, so keys are redacted."""
        self.entries.append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "purpose": purpose,
                             "messages": messages, "response": redact(response)})

    def jsonl(self) -> str:
        return "".join(json.dumps(entry, ensure_ascii=False) + "\n" for entry in self.entries)


def agent_context(profile: dict[str, Any], fidelity: dict[str, Any], allowed: list[str],
                  history: list[Trial], evidence: dict[str, float] | None = None,
                  augmenting: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the agent sees. Built from aggregates only (the profile, the sample's
    fidelity, each operator's share of the sample it would touch, scores); see
    tests/search/test_search.py."""
    evidence = evidence or {}
    fields = {name: {k: v for k, v in stats.items() if k.endswith("_rate") or k in ("chars_p50", "chars_p95",
                                                                                   "tokens_p50")}
              for name, stats in profile.get("fields", {}).items()}
    return {
        "dataset_profile": {"rows": profile.get("rows"), "fields": fields,
                            "duplicates": {k: v for k, v in profile.get("duplicates", {}).items() if "rate" in k},
                            "languages": profile.get("languages", {}).get("shares")},
        "sample_fidelity": fidelity,
        "operators": cards(allowed, evidence, augmenting),
        "profile_prior": {"operators": profile_prior(evidence, allowed),
                          "why": f"each would drop or rewrite at least {PRIOR_MIN_SHARE:.0%} of the sample"},
        "history": summarise_history(history),
    }


def summarise_history(history: list[Trial]) -> dict[str, Any]:
    """The best strategies with their scores, and which operators helped or hurt on average."""
    ranked = sorted(history, key=Trial.rank, reverse=True)
    effects: dict[str, list[float]] = {}
    for trial in history:
        for step in trial.steps:
            if trial.score is not None:
                effects.setdefault(step["operator"], []).append(trial.score)
    mean = {name: sum(v) / len(v) for name, v in effects.items()}
    return {
        "evaluated": len(history),
        "best": [{"steps": _names(h.steps), "score": h.score, "ci95": h.ci95, "rows_out": h.rows_out}
                 for h in ranked[:HISTORY_SHOWN]],
        "operators_in_winning_strategies": sorted(n for n, m in mean.items() if m > 0),
        "operators_in_losing_strategies": sorted(n for n, m in mean.items() if m <= 0),
        "already_evaluated": [_names(h.steps) for h in ranked[HISTORY_SHOWN:]],
    }


def proposal_schema(allowed: list[str], count: int) -> dict[str, Any]:
    """Operator names only, from the allowed set: every answer the server lets through is a
    well-formed strategy, and the operators run with their measured defaults."""
    strategy = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string", "enum": allowed},
                                                           "minItems": 1, "maxItems": MAX_STEPS}},
                "required": ["steps"]}
    return {"type": "object", "properties": {"strategies": {"type": "array", "items": strategy, "minItems": 1,
                                                            "maxItems": count}}, "required": ["strategies"]}


class StrategyAgent:
    def __init__(self, client: LLMClient, allowed: list[str], audit: AuditLog, seed: int = 0, attempts: int = 3):
        self.client, self.allowed, self.audit, self.attempts = client, allowed, audit, attempts
        self.rng = random.Random(seed)
        self.repairs = 0
        self.failures = 0

    def propose(self, context: dict[str, Any], count: int, seen: set[str]) -> list[tuple[Strategy, str]]:
        """``count`` new strategies, each with its origin. With no history yet (the first
        iteration, or a one-shot search) and more than one to propose, the profile-driven
        prior's whole strategy comes first ('profile_prior'); then the agent's ('agent'),
        and where its answers fell short, more from the prior, then 'random_fill'."""
        found: list[tuple[Strategy, str]] = []
        prior = context.get("profile_prior", {}).get("operators") or []
        if not context.get("history", {}).get("evaluated") and count > 1:
            # Before any score exists, the prior's whole strategy is one of the first candidates.
            found += [(s, "profile_prior") for s in prior_strategies(1, prior, self.allowed, seen)]
        # The agent is told from its first attempt which strategies are already candidates.
        repeated: list[list[str]] = [[step.name for step in strategy.steps] for strategy, _ in found]
        for attempt in range(self.attempts):
            if len(found) == count:
                return found
            ask = f"Propose {count - len(found)} new strategies."
            if repeated:
                ask += " These were already evaluated or proposed; do not repeat them: " + json.dumps(repeated) + "."
            messages = [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": "Context:\n" + json.dumps(context, sort_keys=True) +
                         f"\n\n{ask} Answer as JSON, for example: {json.dumps(EXAMPLE)}"}]
            request = ChatRequest.of(messages, max_tokens=384, temperature=0.7 + 0.2 * attempt,
                                     seed=self.rng.randrange(1 << 30),
                                     json_schema=proposal_schema(self.allowed, count - len(found)))
            try:
                response = self.client.chat(request)
            except Exception as error:  # the endpoint refused (context too long, overloaded): fall back
                self.audit.record(f"propose (attempt {attempt + 1})", messages, f"error: {error}")
                self.failures += 1
                break
            self.audit.record(f"propose (attempt {attempt + 1})", messages, response)
            for steps in _proposed(response):
                strategy = self._repair(steps)
                if strategy is None or len(found) == count:
                    continue
                if strategy.key() in seen:
                    repeated.append([s.name for s in strategy.steps])
                    continue
                seen.add(strategy.key())
                found.append((strategy, "agent"))
        for strategy in prior_strategies(count - len(found), prior, self.allowed, seen):
            found.append((strategy, "profile_prior"))
        for strategy in random_strategies(count - len(found), self.rng, self.allowed, seen):
            found.append((strategy, "random_fill"))
        return found

    def _repair(self, steps: list[Any]) -> Strategy | None:
        kept: list[dict[str, Any]] = []
        for step in steps[:MAX_STEPS]:
            name, params = step_parts(step)
            if name not in self.allowed or any(k["operator"] == name for k in kept):
                self.repairs += 1
                continue
            params = params if isinstance(params, dict) else {}
            try:
                operators.get(name).Params(**params)
            except (ValidationError, TypeError):
                self.repairs += 1
                params = {}
            kept.append({"operator": name, "params": params})
        try:
            return Strategy.from_data(kept) if kept else None
        except StrategyError:
            self.repairs += 1
            return None


def prior_strategies(count: int, prior: list[str], allowed: list[str], seen: set[str]) -> list[Strategy]:
    """Strategies from the profile-driven prior: all its operators, then each leaving one
    out, then each with one more cheap cleaning operator."""
    if not prior or count <= 0:
        return []
    options = [prior] + [[n for n in prior if n != left] for left in prior if len(prior) > 1]
    options += [in_pipeline_order(prior + [extra], allowed) for extra in ("normalize_text", "exact_dedup")
                if extra in allowed and extra not in prior]
    found: list[Strategy] = []
    for names in options:
        strategy = Strategy.from_data(names)
        if len(found) < count and strategy.key() not in seen:
            seen.add(strategy.key())
            found.append(strategy)
    return found


def step_parts(step: Any) -> tuple[Any, Any]:
    """(operator name, params) of a proposed step: a name, or {"operator", "params"}."""
    if isinstance(step, str):
        return step, {}
    if isinstance(step, dict):
        return step.get("operator"), step.get("params")
    return None, None


def _names(steps: list[dict[str, Any]]) -> list[Any]:
    return [s["operator"] if not s.get("params") else s for s in steps]


def random_strategies(count: int, rng: random.Random, allowed: list[str], seen: set[str],
                      max_steps: int = 4) -> list[Strategy]:
    """Random search: operators drawn from the allowed set, parameters at their defaults,
    in pipeline order (cleaning, selection, refinement, generation; within a stage, the
    order of ``allowed``)."""
    found: list[Strategy] = []
    for _ in range(count * 50):
        if len(found) == count:
            break
        names = in_pipeline_order(rng.sample(allowed, k=rng.randint(1, min(max_steps, len(allowed)))), allowed)
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
