"""The search: sample, target, baseline, then per iteration propose / apply / fine-tune /
evaluate / reflect; publish the best strategy's output on the full dataset with a data card.

The evaluation split is held out of the input (or given as a trusted dataset) before
anything else, and never enters sampling, processing or the agent's view.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from autodp import engine
from autodp.agent import AuditLog, StrategyAgent, agent_context, random_strategies
from autodp.evaluation import Example, adapter_answers, adapter_nll, llm_judge, reference_judge
from autodp.executor import apply_strategy
from autodp.finetune import LoraSettings, finetune
from autodp.hashing import content_key
from autodp.ingest import DATASETS, RECORDS_FILE
from autodp.operators.batch import prompt_text
from autodp.operators.resources import Resources
from autodp.profile import profile
from autodp.sampling import sample
from autodp.store import ArtifactStore
from autodp.strategy import Strategy
from autodp.targeting import load_targets, select_targets
from autodp.text import blank_sql

SEARCH_VERSION = "1"
PUBLISHED = "published"
STEPS = "search_steps"  # small JSON results of search steps (proposals, scores, verdicts)
RESULT_FILE = "result.json"
MAX_ITERATIONS = 5  # the autodp_search DAG has this many iteration groups
DEFAULT_OPERATORS = [
    "drop_empty_output", "normalize_text", "length_bounds", "exact_dedup", "near_dedup", "language_filter",
    "pii_redaction", "hallucinated_url_filter", "merged_instruction_filter", "boilerplate_strip",
    "relevance_filter", "diversity_selection",
]


@dataclass(frozen=True)
class SearchConfig:
    iterations: int = 2
    candidates: int = 3
    method: Literal["agent", "random", "one_shot"] = "agent"
    base: str = "tiny"
    sample_size: int = 200
    eval_size: int = 40
    eval_dataset: str | None = None
    operators: tuple[str, ...] = tuple(DEFAULT_OPERATORS)
    lora: LoraSettings = field(default_factory=LoraSettings)
    patience: int = 2
    seed: int = 0
    llm_judge: bool = False  # also judge with the judge endpoint (reported; the score stays the reference judge's)
    # The three accelerations, each of which can be switched off to measure it (bench/search.py):
    sampling: bool = True  # search on a distribution-preserving sample; off: on every row but the eval split
    target_selection: bool = True  # LLM operators process PTS-flagged rows only; off: every row
    reuse: bool = True  # Cache-and-Reuse of stored prefixes and adapters; off: recompute them

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["operators"] = list(self.operators)
        return data


def run_key(dataset_key: str, config: SearchConfig) -> str:
    return content_key("search", SEARCH_VERSION, {"dataset": dataset_key, "config": config.to_dict()})


def search(dataset_key: str, store: ArtifactStore, config: SearchConfig | None = None,
           resources: Resources | None = None, agent_client=None, progress=None) -> dict[str, Any]:
    """The whole loop in one process; the ``autodp_search`` DAG runs the same steps as tasks."""
    config = config or SearchConfig()
    resources = resources or Resources()
    say = progress or (lambda message: None)
    key = run_key(dataset_key, config)
    if store.has(PUBLISHED, key):
        return published_result(store, key)
    started = time.perf_counter()
    run = prepare(dataset_key, store, config, resources)
    say(f"evaluation split: {run['eval_examples']} examples ({run['eval_source']}); sample: {run['sample_rows']} "
        f"rows, JS divergence {run['fidelity']['js_divergence']}")
    run = select_run_targets(run, store, config, resources)
    if run["targets"]:
        say(f"target selection: {run['targets']['flagged']} of {run['targets']['rows']} rows flagged")
    run = train_baseline(run, store, config, resources)
    say(f"baseline adapter trained ({run['baseline']['steps']} steps)")
    history: list[dict[str, Any]] = []
    for iteration in range(1, config.iterations + 1):
        for candidate in propose(run, store, config, resources, iteration, history, agent_client):
            entry = judge_candidate(run, store, config, resources, train_candidate(
                run, store, config, resources, apply_candidate(run, store, config, resources, candidate)))
            history.append(entry)
            say(f"iteration {iteration}: {entry['origin']} strategy score {entry['score']:+.3f} "
                f"({' > '.join(s['operator'] for s in entry['steps'])})")
        if reflect(history, iteration, config)["converged"]:
            say("converged: no better strategy in the last iterations")
            break
    result = publish(run, store, config, resources, history, seconds=time.perf_counter() - started)
    say(f"published: {result['data_card']['rows']['in']} -> {result['data_card']['rows']['out']} rows")
    return result


# The steps. Each takes and returns small JSON (Airflow XCom carries it); everything large
# is in the store under content keys, so re-running a step finds its output there.

def prepare(dataset_key: str, store: ArtifactStore, config: SearchConfig, resources: Resources) -> dict[str, Any]:
    """Hold out the evaluation split, draw the search sample and profile it."""
    eval_rows, examples, eval_source = evaluation_split(store, dataset_key, config, resources)
    sampled = sample(dataset_key, store, seed=config.seed, exclude_rows=eval_rows, resources=resources,
                     **({"size": config.sample_size} if config.sampling else {"fraction": 1.0}))
    profile(sampled["dataset_key"], store, resources.settings)
    return {"run_key": run_key(dataset_key, config), "dataset_key": dataset_key,
            "sample_key": sampled["dataset_key"], "sample_rows": sampled["rows"], "fidelity": sampled["fidelity"],
            "eval_source": eval_source, "eval_examples": len(examples), "targets": None, "baseline": None}


def select_run_targets(run: dict[str, Any], store: ArtifactStore, config: SearchConfig,
                       resources: Resources) -> dict[str, Any]:
    if not config.target_selection:
        return run
    targets = select_targets(run["sample_key"], store, seed_size=min(300, run["sample_rows"]), seed=config.seed,
                             resources=resources)
    return {**run, "targets": {k: targets[k] for k in ("targets_key", "flagged", "rows", "classifier")}}


def train_baseline(run: dict[str, Any], store: ArtifactStore, config: SearchConfig,
                   resources: Resources) -> dict[str, Any]:
    """The model trained the same way on the unprocessed sample, scored once."""
    adapter = finetune(run["sample_key"], store, base=config.base, lora=config.lora, settings=resources.settings,
                       reuse=config.reuse)
    examples = _examples(store, run, config, resources)

    def scores() -> dict[str, Any]:
        answers = (adapter_answers(store, adapter["adapter_key"], config.base, [e.prompt for e in examples],
                                   settings=resources.settings) if config.llm_judge else None)
        nll = adapter_nll(store, adapter["adapter_key"], config.base, examples, resources.settings)
        return {"nll": [float(x) for x in nll], "answers": answers}

    scored, _ = _stored(store, "baseline", {"adapter": adapter["adapter_key"], "eval": _eval_key(run, config),
                                            "llm_judge": config.llm_judge}, scores, config.reuse)
    return {**run, "baseline": {"adapter_key": adapter["adapter_key"], "steps": adapter["steps"],
                                "scores_key": scored}}


def propose(run: dict[str, Any], store: ArtifactStore, config: SearchConfig, resources: Resources,
            iteration: int, history: list[dict[str, Any]], agent_client=None) -> list[dict[str, Any]]:
    """The candidates of one iteration, each {"steps", "origin", "iteration"}; never one already evaluated.
    Stored with the agent's audit entries, so a re-run proposes the same candidates."""
    seen = {h["strategy_key"] for h in history}
    one_shot = config.method == "one_shot"
    material = {"run": run["run_key"], "iteration": 0 if one_shot else iteration,
                "history": [] if one_shot else sorted(seen)}

    def proposals() -> dict[str, Any]:
        allowed = list(config.operators)
        if config.method == "random":
            rng = random.Random(f"{config.seed}:{iteration}")
            return {"candidates": [{"steps": s.canonical()["steps"], "origin": "random"}
                                   for s in random_strategies(config.candidates, rng, allowed, set(seen))],
                    "audit": [], "repairs": 0, "failures": 0}
        audit = AuditLog()
        agent = StrategyAgent(agent_client or _client(resources, "agent"), allowed, audit,
                              seed=config.seed * 1000 + (0 if one_shot else iteration))
        report = profile(run["sample_key"], store, resources.settings)
        context = agent_context(report, run["fidelity"], allowed, [] if one_shot else history)
        count = config.iterations * config.candidates if one_shot else config.candidates
        found = agent.propose(context, count, set(seen))
        return {"candidates": [{"steps": s.canonical()["steps"], "origin": origin} for s, origin in found],
                "audit": audit.entries, "repairs": agent.repairs, "failures": agent.failures}

    stored, _ = _stored(store, "proposals", material, proposals, reuse=True)
    candidates = _read_stored(store, stored)["candidates"]
    if one_shot:
        candidates = candidates[(iteration - 1) * config.candidates:iteration * config.candidates]
    return [{**c, "iteration": iteration, "proposals_key": stored} for c in candidates
            if Strategy.from_data(c["steps"]).key() not in seen]


def apply_candidate(run: dict[str, Any], store: ArtifactStore, config: SearchConfig, resources: Resources,
                    candidate: dict[str, Any]) -> dict[str, Any]:
    strategy = Strategy.from_data(candidate["steps"])
    started = time.perf_counter()
    applied = apply_strategy(run["sample_key"], strategy, store, _with_targets(resources, store, run),
                             reuse=config.reuse)
    return {"iteration": candidate["iteration"], "origin": candidate["origin"],
            "proposals_key": candidate["proposals_key"], "strategy_key": strategy.key(),
            "steps": strategy.canonical()["steps"], "output_key": applied["output_key"],
            "rows_out": applied["rows_out"], "cache_hits": applied["cache_hits"],
            "llm_calls": applied["llm_calls"], "llm_rows_skipped": applied["llm_rows_skipped"],
            "seconds": round(time.perf_counter() - started, 2)}


def train_candidate(run: dict[str, Any], store: ArtifactStore, config: SearchConfig, resources: Resources,
                    entry: dict[str, Any]) -> dict[str, Any]:
    if not entry["rows_out"]:
        return {**entry, "adapter_key": None}
    started = time.perf_counter()
    adapter = finetune(entry["output_key"], store, base=config.base, lora=config.lora,
                       settings=resources.settings, reuse=config.reuse)
    return {**entry, "adapter_key": adapter["adapter_key"], "adapter_cached": adapter["cached"],
            "seconds": entry["seconds"] + round(time.perf_counter() - started, 2)}


def judge_candidate(run: dict[str, Any], store: ArtifactStore, config: SearchConfig, resources: Resources,
                    entry: dict[str, Any]) -> dict[str, Any]:
    """Win rate against the baseline: the reference judge (the score), and the LLM judge when asked."""
    if entry["adapter_key"] is None:
        return {**entry, "score": -0.5, "win_rate": 0.0, "ci95": [0.0, 0.0], "note": "no rows left"}
    started = time.perf_counter()

    def verdicts() -> dict[str, Any]:
        examples = _examples(store, run, config, resources)
        baseline = _read_stored(store, run["baseline"]["scores_key"])
        verdict = reference_judge(store, entry["adapter_key"], run["baseline"]["adapter_key"], config.base, examples,
                                  seed=config.seed, settings=resources.settings,
                                  baseline_nll=np.array(baseline["nll"]))
        judged = None
        if config.llm_judge:
            judged = llm_judge(store, entry["adapter_key"], run["baseline"]["adapter_key"], config.base, examples,
                               _client(resources, "judge"), seed=config.seed, settings=resources.settings,
                               baseline_answers=baseline["answers"])
            judged = {k: judged[k] for k in ("win_rate", "ci95", "wins", "ties", "losses", "model",
                                             "first_shown_preferred")}
        return {"reference": verdict, "llm_judge": judged}

    key, cached = _stored(store, "verdicts", {"adapter": entry["adapter_key"],
                                              "baseline": run["baseline"]["scores_key"]}, verdicts, config.reuse)
    stored = _read_stored(store, key)
    verdict = stored["reference"]
    judged = {"llm_judge": stored["llm_judge"]} if stored["llm_judge"] else {}
    return {**entry, **judged, "verdict_cached": cached, "score": verdict["score"], "win_rate": verdict["win_rate"],
            "ci95": verdict["ci95"], "wins": verdict["wins"], "ties": verdict["ties"], "losses": verdict["losses"],
            "seconds": entry["seconds"] + round(time.perf_counter() - started, 2)}


def reflect(history: list[dict[str, Any]], iteration: int, config: SearchConfig) -> dict[str, Any]:
    """Converged when no iteration in the last ``patience`` improved on the best before it."""
    best_by_iteration = [max((h["score"] for h in history if h["iteration"] <= i), default=float("-inf"))
                         for i in range(1, iteration + 1)]
    stale = 0
    for before, now in zip(best_by_iteration, best_by_iteration[1:]):
        stale = 0 if now > before else stale + 1
    best = max(history, key=_rank, default=None)
    return {"iteration": iteration, "converged": stale >= config.patience, "history": history,
            "best_score": best["score"] if best else None, "best_strategy_key": best["strategy_key"] if best else None}


def publish(run: dict[str, Any], store: ArtifactStore, config: SearchConfig, resources: Resources,
            history: list[dict[str, Any]], seconds: float | None = None) -> dict[str, Any]:
    """The best strategy on the full dataset, with its data card and the agent's audit log."""
    if store.has(PUBLISHED, run["run_key"]):
        return published_result(store, run["run_key"])
    if not history:
        raise ValueError("no strategy was evaluated: nothing to publish")
    best = max(history, key=_rank)
    final = _publish_output(run["dataset_key"], Strategy.from_data(best["steps"]), store, config, resources)
    audit, repairs, failures = [], 0, 0
    for key in dict.fromkeys(h["proposals_key"] for h in history):  # in order, once each
        proposals = _read_stored(store, key)
        audit += proposals["audit"]
        repairs, failures = repairs + proposals["repairs"], failures + proposals["failures"]
    card = _data_card(run, config, best, final, history, seconds, repairs, failures)
    result = {"run_key": run["run_key"], "published_key": run["run_key"],
              "published_dataset_key": final["output_key"], "leaderboard": sorted(history, key=_rank, reverse=True),
              "best": best, "data_card": card}
    store.publish_json(PUBLISHED, run["run_key"],
                       {"audit.jsonl": "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in audit),
                        "data_card.json": card, "data_card.md": _markdown(card), RESULT_FILE: result},
                       provenance={"step": "search", "version": SEARCH_VERSION, "dataset": run["dataset_key"],
                                   "config": config.to_dict()},
                       summary={"best_score": best["score"], "published_dataset_key": final["output_key"]})
    return result


def published_result(store: ArtifactStore, key: str) -> dict[str, Any]:
    return store.read_json(PUBLISHED, key, RESULT_FILE)


def _rank(entry: dict[str, Any]) -> tuple[float, int]:
    return entry["score"], -len(entry["steps"])


def _publish_output(dataset_key, strategy: Strategy, store, config: SearchConfig, resources: Resources):
    """The best strategy on the full dataset. Flags from the sample name sample rows only, so
    LLM steps get targets selected on the full dataset."""
    resources = replace(resources, targets=None, quality_scores=None)
    if config.target_selection and any(step.operator.needs_llm for step in strategy.steps):
        targets = select_targets(dataset_key, store, seed_size=300, seed=config.seed, resources=resources)
        resources.targets, resources.quality_scores = load_targets(store, targets["targets_key"])
    return apply_strategy(dataset_key, strategy, store, resources, reuse=config.reuse)


def _with_targets(resources: Resources, store: ArtifactStore, run: dict[str, Any]) -> Resources:
    if not run["targets"]:
        return replace(resources, targets=None, quality_scores=None)
    targets, scores = load_targets(store, run["targets"]["targets_key"])
    return replace(resources, targets=targets, quality_scores=scores)


def _examples(store, run, config, resources) -> list[Example]:
    return evaluation_split(store, run["dataset_key"], config, resources)[1]


def _eval_key(run: dict[str, Any], config: SearchConfig) -> dict[str, Any]:
    return {"dataset": run["dataset_key"], "eval_dataset": config.eval_dataset, "eval_size": config.eval_size,
            "seed": config.seed}


def _stored(store: ArtifactStore, what: str, material: dict[str, Any], compute, reuse: bool) -> tuple[str, bool]:
    """(key, found) of the small JSON result of ``compute`` stored under ``material``;
    ``compute`` runs only when it is not stored (or when ``reuse`` is off)."""
    key = content_key(what, SEARCH_VERSION, material)
    if reuse and store.has(STEPS, key):
        return key, True
    store.publish_json(STEPS, key, {RESULT_FILE: compute()}, summary={},
                       provenance={"step": what, "version": SEARCH_VERSION, **material})
    return key, False


def _read_stored(store: ArtifactStore, key: str) -> dict[str, Any]:
    return store.read_json(STEPS, key, RESULT_FILE)


def _client(resources: Resources, role: str):
    """The client for the agent or judge endpoint (the data LLM's is ``resources.llm``)."""
    from autodp.llm.client import LLMClient
    from autodp.llm.endpoints import Endpoint

    return LLMClient(Endpoint.from_env(role), cache_dir=resources.settings.home / "cache" / role)


def evaluation_split(store, dataset_key, config, resources):
    source_key, eval_source, limit = dataset_key, "held_out", config.eval_size
    if config.eval_dataset:
        source_key, eval_source, limit = config.eval_dataset, "trusted_set", 1 << 62
    with engine.connect(store, settings=resources.settings) as con:
        rows = con.execute(f"""
            select source_row, instruction, input, output from read_parquet(?)
            where not {blank_sql('output')} order by hash(source_row, {int(config.seed)}) limit {int(limit)}""",
            [store.file_location(DATASETS, source_key, RECORDS_FILE)]).fetchall()
    examples = [Example(prompt_text({"instruction": i, "input": x}), o) for _, i, x, o in rows]
    held_out = frozenset(r for r, *_ in rows) if eval_source == "held_out" else frozenset()
    if not examples:
        raise ValueError("no evaluation examples: the evaluation data has no non-empty responses")
    return held_out, examples, eval_source


def _data_card(run, config, best, final, history, seconds, repairs, failures) -> dict[str, Any]:
    from autodp import operators

    return {
        "input_dataset_key": run["dataset_key"],
        "output_dataset_key": final["output_key"],
        "strategy": best["steps"],
        "operator_versions": {s["operator"]: operators.get(s["operator"]).version for s in best["steps"]},
        "rows": {"in": final["rows_in"], "out": final["rows_out"]},
        "drop_reasons": {s["operator"]: s["dropped"] for s in final["steps"] if s["dropped"]},
        "changes": {s["operator"]: s["changed"] for s in final["steps"] if s["changed"]},
        "score": {"judge": "reference", "win_rate": best["win_rate"], "ci95": best["ci95"], "score": best["score"],
                  "llm_judge": best.get("llm_judge"), "evaluation": run["eval_source"],
                  "evaluation_examples": run["eval_examples"], "base_model": config.base},
        "baseline_adapter": run["baseline"]["adapter_key"],
        "fidelity": run["fidelity"],
        "target_selection": run["targets"],
        "search": {"method": config.method, "iterations_run": max(h["iteration"] for h in history),
                   "strategies_evaluated": len(history),
                   "seconds": round(seconds, 1) if seconds is not None else None,
                   "agent_repairs": repairs, "agent_failures": failures,
                   "accelerations": {"sampling": config.sampling, "target_selection": config.target_selection,
                                     "reuse": config.reuse},
                   "origins": {o: sum(h["origin"] == o for h in history) for o in sorted({h["origin"] for h in history})}},
        "llm_calls": {"search": sum(h.get("llm_calls", 0) for h in history),
                      "rows_skipped_by_target_selection": sum(h.get("llm_rows_skipped", 0) for h in history),
                      "publish": final["llm_calls"]},
    }


def _llm_judge_line(judged: dict[str, Any] | None) -> str:
    if not judged:
        return ""
    bias = judged.get("first_shown_preferred")
    return (f"LLM judge `{judged['model']}`: win rate {judged['win_rate']} (95% CI {judged['ci95'][0]}-"
            f"{judged['ci95'][1]}; {judged['wins']} wins, {judged['ties']} ties, {judged['losses']} losses; a tie: the "
            "verdict changed with the order the answers were shown in, or was unreadable)"
            + (f"; it preferred the answer shown first in {bias:.0%} of its answers" if bias is not None else "")
            + ".\n\n")


def _markdown(card: dict[str, Any]) -> str:
    steps = "\n".join(f"{n}. `{s['operator']}` {json.dumps(s['params'])}" for n, s in enumerate(card["strategy"], 1))
    drops = "\n".join(f"- {op}: " + ", ".join(f"{r} {c}" for r, c in reasons.items())
                      for op, reasons in card["drop_reasons"].items()) or "- none"
    score = card["score"]
    return (f"# Data card\n\n- input dataset `{card['input_dataset_key']}`\n- output dataset "
            f"`{card['output_dataset_key']}`\n- rows {card['rows']['in']} -> {card['rows']['out']}\n\n"
            f"## Strategy\n\n{steps}\n\n## Drop reasons\n\n{drops}\n\n## Score\n\n"
            f"Win rate {score['win_rate']} (95% CI {score['ci95'][0]}-{score['ci95'][1]}) against the baseline "
            f"trained on the unprocessed sample; {score['judge']} judge, {score['evaluation_examples']} "
            f"{score['evaluation'].replace('_', ' ')} examples, base model {score['base_model']}.\n\n"
            f"{_llm_judge_line(score['llm_judge'])}## Sample fidelity\n\n{json.dumps(card['fidelity'])}\n")
