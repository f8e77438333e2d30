"""The agent: what share of its proposals are its own, valid and new?

    make bench-agent    # or: .venv/bin/python bench/agent.py [--seeds 5 --candidates 3]

On four real datasets from ../shared (Alpaca 5,000, MedQuAD with its empty answers, LIMA,
GSM8K), each sampled and profiled as a search does, the embedded agent (SmolLM2-135M on
the local server) is asked for strategies twice per seed: first with no history, then
with the first round's strategies as history (each scored 0.0, i.e. tied with the
baseline, so the round measures whether the agent proposes something new, not whether
it learns). Every proposal counts once, by origin: ``agent`` (valid and new as the agent
wrote it or after dropping bad parameters) or ``random_fill`` (the agent's answer gave
nothing usable, so a random strategy took its place). Also printed: raw validity (the
answer parsed and named only catalogue operators with valid parameters, before any
repair), the profile-driven prior fills, and the share of the agent's own proposals that
use at least one operator of the prior (``autodp.search.cards``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from workspace import workspace  # bench/workspace.py

from autodp.ingest import ingest
from autodp.llm.endpoints import LOCAL_MODEL, ROLES, Endpoint
from autodp.llm.server import LocalServer
from autodp.operators.resources import Resources
from autodp.search.agent import AuditLog, StrategyAgent, agent_context, step_parts
from autodp.search.cards import profile_prior
from autodp.search.config import DEFAULT_OPERATORS
from autodp.search.evidence import dataset_evidence
from autodp.search.sampling import sample
from autodp.search.state import Trial
from autodp.tables.profile import profile

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
SOURCES = {
    "alpaca_5000": (DATA / "alpaca" / "alpaca_5000.json", []),
    "medquad": (DATA / "medquad" / "medquad_all_flat.jsonl.gz", ["instruction=question", "output=answer"]),
    "lima": (DATA / "lima" / "lima.json", []),
    "gsm8k": (DATA / "gsm8k" / "gsm_8k_train.json", []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--datasets", default=",".join(SOURCES), help="comma-separated, from %(default)s")
    parser.add_argument("--rounds", default="first,history", help="first (no history), history, or both")
    args = parser.parse_args()

    folder, settings, store = workspace("bench-agent")
    allowed = list(DEFAULT_OPERATORS)
    totals = {"asked": 0, "agent": 0, "profile_prior": 0, "random_fill": 0, "raw_valid": 0, "answers": 0,
              "uses_prior": 0, "with_prior": 0}
    latencies: list[float] = []
    with LocalServer(port=0, log_path=folder / "llm.log") as server:
        endpoints = {role: Endpoint(role, server.base_url, LOCAL_MODEL, trusted=True) for role in ROLES}
        resources = Resources(settings=settings, endpoints=endpoints)
        print(f"agent: {LOCAL_MODEL} (local); {args.seeds} seeds x 2 rounds x {args.candidates} candidates "
              f"per dataset; sample {args.sample}")
        print(f"{'dataset':<12} {'round':<8} {'asked':>5} {'agent':>6} {'prior':>6} {'random':>7} "
              f"{'raw valid':>10} {'uses prior':>11}  profile-driven prior")
        for name in args.datasets.split(","):
            path, mapping = SOURCES[name]
            key = ingest(str(path), store, mapping=mapping)["dataset_key"]
            sampled = sample(key, store, size=args.sample, seed=0, resources=resources)
            report = profile(sampled["dataset_key"], store, settings)
            evidence = dataset_evidence(sampled["dataset_key"], store, resources)
            suggested = set(profile_prior(evidence, allowed))
            for round_name in args.rounds.split(","):
                counts = {k: 0 for k in totals}
                for seed in range(args.seeds):
                    history = [] if round_name == "first" else _neutral_history(key, resources, allowed, report,
                                                                                evidence, sampled, seed, args)
                    seen = {t.strategy_key for t in history}
                    audit = AuditLog()
                    agent = StrategyAgent(resources.client("agent"), allowed, audit, seed=seed * 1000 + 1)
                    started = time.perf_counter()
                    found = agent.propose(agent_context(report, sampled["fidelity"], allowed, history, evidence),
                                          args.candidates, seen)
                    latencies.append(time.perf_counter() - started)
                    counts["asked"] += len(found)
                    for strategy, origin in found:
                        counts[origin] += 1
                        if origin == "agent" and suggested:
                            counts["with_prior"] += 1
                            counts["uses_prior"] += bool(suggested & {s.name for s in strategy.steps})
                    for entry in audit.entries:
                        counts["answers"] += 1
                        counts["raw_valid"] += _raw_valid(entry["response"], allowed)
                for k in totals:
                    totals[k] += counts[k]
                print(f"{name:<12} {round_name:<8} {counts['asked']:>5} {counts['agent']:>6} "
                      f"{counts['profile_prior']:>6} {counts['random_fill']:>7} {_share(counts['raw_valid'], counts['answers']):>10} "
                      f"{_share(counts['uses_prior'], counts['with_prior']):>11}  {', '.join(sorted(suggested)) or '-'}",
                      flush=True)
    print(f"all: {totals['agent']} of {totals['asked']} proposals from the agent "
          f"({_share(totals['agent'], totals['asked'])}), {totals['profile_prior']} filled from the prior, "
          f"{totals['random_fill']} random fills; "
          f"raw valid answers {_share(totals['raw_valid'], totals['answers'])} of {totals['answers']}; "
          f"agent proposals using a profile-suggested operator {_share(totals['uses_prior'], totals['with_prior'])}; "
          f"median {statistics.median(latencies):.1f} s per propose call")


_ROUND_ONE: dict[tuple[str, int], list[Trial]] = {}


def _neutral_history(key, resources, allowed, report, evidence, sampled, seed, args) -> list[Trial]:
    """The first round's proposals for this seed, each scored as a tie with the baseline."""
    cached = _ROUND_ONE.get((key, seed))
    if cached is not None:
        return cached
    agent = StrategyAgent(resources.client("agent"), allowed, AuditLog(), seed=seed * 1000 + 1)
    found = agent.propose(agent_context(report, sampled["fidelity"], allowed, [], evidence), args.candidates, set())
    history = [Trial(iteration=1, origin=origin, proposals_key="-", strategy_key=s.key(),
                     steps=s.canonical()["steps"], output_key="-", rows_out=sampled["rows"], cache_hits=0,
                     llm_calls=0, llm_rows_skipped=0, seconds=0.0, score=0.0, win_rate=0.5, ci95=[0.45, 0.55])
               for s, origin in found]
    _ROUND_ONE[(key, seed)] = history
    return history


def _raw_valid(response: str, allowed: list[str]) -> int:
    """1 when the answer parses and every step names an allowed operator with valid parameters."""
    import json

    from pydantic import ValidationError

    from autodp import operators

    try:
        data = json.loads(response)
    except (json.JSONDecodeError, TypeError):
        return 0
    strategies = data.get("strategies") if isinstance(data, dict) else None
    if not isinstance(strategies, list) or not strategies:
        return 0
    for strategy in strategies:
        steps = strategy.get("steps") if isinstance(strategy, dict) else None
        if not isinstance(steps, list) or not steps:
            return 0
        for step in steps:
            name, params = step_parts(step)
            params = {} if params is None else params
            if name not in allowed or not isinstance(params, dict):
                return 0
            try:
                operators.get(name).Params(**params)
            except (ValidationError, TypeError):
                return 0
    return 1


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "-"


if __name__ == "__main__":
    main()
