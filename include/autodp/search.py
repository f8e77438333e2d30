"""The search: sample, target, baseline, then per iteration propose / apply / fine-tune /
evaluate / reflect; publish the best strategy's output on the full dataset with a data card.

The evaluation split is held out of the input (or given as a trusted dataset) before
anything else, and never enters sampling, processing or the agent's view.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

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


def search(dataset_key: str, store: ArtifactStore, config: SearchConfig | None = None,
           resources: Resources | None = None, agent_client=None, progress=None) -> dict[str, Any]:
    config = config or SearchConfig()
    resources = resources or Resources()
    say = progress or (lambda message: None)
    run_key = content_key("search", SEARCH_VERSION, {"dataset": dataset_key, "config": _jsonable(config)})
    if store.has(PUBLISHED, run_key):
        return json.loads(store.read_bytes(store.artifact_path(PUBLISHED, run_key, "result.json")))
    started = time.perf_counter()

    eval_rows, examples, eval_source = _evaluation_split(store, dataset_key, config, resources)
    say(f"evaluation split: {len(examples)} examples ({eval_source})")
    sampled = sample(dataset_key, store, size=config.sample_size, seed=config.seed, exclude_rows=eval_rows,
                     resources=resources)
    sample_key = sampled["dataset_key"]
    report = profile(sample_key, store, resources.settings)
    say(f"sample: {sampled['rows']} rows, JS divergence {sampled['fidelity']['js_divergence']}")
    targets = select_targets(sample_key, store, seed_size=min(300, sampled["rows"]), seed=config.seed,
                             resources=resources)
    resources.targets, resources.quality_scores = load_targets(store, targets["targets_key"])
    baseline = finetune(sample_key, store, base=config.base, lora=config.lora, settings=resources.settings)
    say(f"baseline adapter trained ({baseline['steps']} steps, {baseline['seconds']} s)")
    baseline["nll"] = adapter_nll(store, baseline["adapter_key"], config.base, examples, resources.settings)
    if config.llm_judge:
        baseline["answers"] = adapter_answers(store, baseline["adapter_key"], config.base,
                                              [e.prompt for e in examples], settings=resources.settings)

    audit, history, seen = AuditLog(), [], set()
    allowed = list(config.operators)
    rng = random.Random(config.seed)
    agent = None
    if config.method in ("agent", "one_shot"):
        if agent_client is None:
            from autodp.llm.client import LLMClient
            from autodp.llm.endpoints import Endpoint

            agent_client = LLMClient(Endpoint.from_env("agent"), cache_dir=resources.settings.home / "cache" / "agent")
        agent = StrategyAgent(agent_client, allowed, audit, seed=config.seed)
    planned: list[tuple[Strategy, str]] = []
    if config.method == "one_shot":
        context = agent_context(report, sampled["fidelity"], allowed, [])
        planned = agent.propose(context, config.iterations * config.candidates, seen)
    best_score, stale = float("-inf"), 0
    for iteration in range(config.iterations):
        if config.method == "agent":
            proposals = agent.propose(agent_context(report, sampled["fidelity"], allowed, history),
                                      config.candidates, seen)
        elif config.method == "one_shot":
            proposals = planned[iteration * config.candidates:(iteration + 1) * config.candidates]
        else:
            proposals = [(s, "random") for s in random_strategies(config.candidates, rng, allowed, seen)]
        for strategy, origin in proposals:
            history.append(_evaluate(store, sample_key, strategy, origin, iteration, baseline, examples,
                                     config, resources))
            say(f"iteration {iteration + 1}: {origin} strategy score {history[-1]['score']:+.3f} "
                f"({' > '.join(s['operator'] for s in history[-1]['steps'])})")
        top = max(h["score"] for h in history)
        stale = 0 if top > best_score else stale + 1
        best_score = max(best_score, top)
        if stale >= config.patience:
            say("converged: no better strategy in the last iterations")
            break

    best = max(history, key=lambda h: (h["score"], -len(h["steps"])))
    final = apply_strategy(dataset_key, Strategy.from_data(best["steps"]), store, resources)
    card = _data_card(dataset_key, config, eval_source, len(examples), sampled, targets, baseline, best, final,
                      history, resources, time.perf_counter() - started, agent)
    result = {"run_key": run_key, "published_key": run_key, "published_dataset_key": final["output_key"],
              "leaderboard": sorted(history, key=lambda h: -h["score"]), "best": best, "data_card": card}
    with tempfile.TemporaryDirectory(prefix="autodp-search-") as tmp:
        folder = Path(tmp)
        (folder / "audit.jsonl").write_text(audit.jsonl())
        (folder / "data_card.json").write_text(json.dumps(card, indent=2, sort_keys=True))
        (folder / "data_card.md").write_text(_markdown(card))
        (folder / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True))
        store.publish(PUBLISHED, run_key, {p.name: p for p in folder.iterdir()},
                      provenance={"step": "search", "version": SEARCH_VERSION, "dataset": dataset_key,
                                  "config": _jsonable(config)},
                      summary={"best_score": best["score"], "published_dataset_key": final["output_key"]})
    return result


def _evaluate(store, sample_key, strategy, origin, iteration, baseline, examples, config, resources) -> dict:
    started = time.perf_counter()
    applied = apply_strategy(sample_key, strategy, store, resources)
    entry = {"iteration": iteration + 1, "origin": origin, "strategy_key": strategy.key(),
             "steps": strategy.canonical()["steps"], "output_key": applied["output_key"],
             "rows_out": applied["rows_out"], "cache_hits": applied["cache_hits"]}
    if not applied["rows_out"]:
        return {**entry, "score": -0.5, "win_rate": 0.0, "ci95": [0.0, 0.0], "note": "no rows left",
                "seconds": round(time.perf_counter() - started, 2)}
    adapter = finetune(applied["output_key"], store, base=config.base, lora=config.lora, settings=resources.settings)
    verdict = reference_judge(store, adapter["adapter_key"], baseline["adapter_key"], config.base, examples,
                              seed=config.seed, settings=resources.settings, baseline_nll=baseline["nll"])
    if config.llm_judge:
        judged = llm_judge(store, adapter["adapter_key"], baseline["adapter_key"], config.base, examples,
                           _judge_client(resources), seed=config.seed, settings=resources.settings,
                           baseline_answers=baseline["answers"])
        entry["llm_judge"] = {k: judged[k] for k in ("win_rate", "ci95", "wins", "ties", "losses", "model")}
    return {**entry, "adapter_key": adapter["adapter_key"], "score": verdict["score"],
            "win_rate": verdict["win_rate"], "ci95": verdict["ci95"], "wins": verdict["wins"],
            "ties": verdict["ties"], "losses": verdict["losses"], "seconds": round(time.perf_counter() - started, 2)}


def _judge_client(resources: Resources):
    from autodp.llm.client import LLMClient
    from autodp.llm.endpoints import Endpoint

    return LLMClient(Endpoint.from_env("judge"), cache_dir=resources.settings.home / "cache" / "judge")


def _evaluation_split(store, dataset_key, config, resources):
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


def _data_card(dataset_key, config, eval_source, eval_n, sampled, targets, baseline, best, final, history,
               resources, seconds, agent) -> dict[str, Any]:
    from autodp import operators

    llm = resources._llm.usage.as_dict() if resources._llm is not None else None
    return {
        "input_dataset_key": dataset_key,
        "output_dataset_key": final["output_key"],
        "strategy": best["steps"],
        "operator_versions": {s["operator"]: operators.get(s["operator"]).version for s in best["steps"]},
        "rows": {"in": final["rows_in"], "out": final["rows_out"]},
        "drop_reasons": {s["operator"]: s["dropped"] for s in final["steps"] if s["dropped"]},
        "changes": {s["operator"]: s["changed"] for s in final["steps"] if s["changed"]},
        "score": {"judge": "reference", "win_rate": best["win_rate"], "ci95": best["ci95"], "score": best["score"],
                  "llm_judge": best.get("llm_judge"),
                  "evaluation": eval_source, "evaluation_examples": eval_n, "base_model": config.base},
        "baseline_adapter": baseline["adapter_key"],
        "fidelity": sampled["fidelity"],
        "target_selection": {k: targets[k] for k in ("flagged", "rows", "classifier")},
        "search": {"method": config.method, "iterations_run": max(h["iteration"] for h in history),
                   "strategies_evaluated": len(history), "seconds": round(seconds, 1),
                   "agent_repairs": agent.repairs if agent else 0,
                   "agent_failures": agent.failures if agent else 0,
                   "origins": {o: sum(h["origin"] == o for h in history) for o in {h["origin"] for h in history}}},
        "llm_usage": llm,
    }


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
            f"## Sample fidelity\n\n{json.dumps(card['fidelity'])}\n")


def _jsonable(config: SearchConfig) -> dict[str, Any]:
    data = asdict(config)
    data["operators"] = list(config.operators)
    return data
