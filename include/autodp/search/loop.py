"""The search, as the steps the ``autodp_search`` DAG runs as tasks, with the same names:
``sample``, ``target``, ``baseline``, then per iteration ``propose``, ``apply``,
``finetune``, ``evaluate`` and ``reflect``; then ``select``, ``confirm`` and ``publish``.
``search`` runs them in one process (the CLI, the tests and the benchmarks).

The configuration's ``signal`` says what scores a candidate. ``gradient_flow`` (the default,
``autodp.search.value_judge``): ``baseline`` featurises the raw sample and the references
once, ``finetune`` trains nothing, and ``evaluate`` values the candidate's output against the
raw sample. ``reference``: ``baseline`` fine-tunes the raw sample twice (the second seed sets
the noise floor), ``finetune`` trains an adapter per candidate, and ``evaluate`` judges its
references' likelihood against the baseline's. Either way ``confirm`` fine-tunes the top
candidates and raw with several seeds before anything is called better than raw.

Each step takes the ``SearchContext`` (store, configuration, resources) and small typed
state (``autodp.search.state``); everything large is in the store under content keys, so
re-running a step finds its output there. The evaluation split is held out of the input
(or given as a trusted dataset) before anything else, and never enters sampling,
processing or the agent's view. Its first ``eval_size`` examples score every candidate; the
rest (``confirm_size``) are kept for ``confirm``, which the selection never sees.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from autodp.artifacts import (
    AUDIT_FILE,
    DATA_CARD_FILE,
    DATA_CARD_MARKDOWN_FILE,
    DATASETS,
    PUBLISHED,
    RECORDS_FILE,
    RESULT_FILE,
    SEARCH_STEPS,
)
from autodp.execution import shards
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.exports.huggingface import hf_dataset_files, hf_name
from autodp.hashing import content_key
from autodp.models import lora
from autodp.operators.resources import Resources
from autodp.search import sampling
from autodp.search.agent import AuditLog, StrategyAgent, agent_context, random_strategies
from autodp.search.config import SEARCH_VERSION, SearchConfig, run_key
from autodp.search.confirmation import BETTER, NOT_CONFIRMED, confirmed, seeded_nll
from autodp.search.data_card import data_card, markdown
from autodp.search.evaluation import (
    Example,
    adapter_answers,
    adapter_nll,
    evaluation_split,
    llm_judge,
    load_examples,
    noise_floor,
    noise_reach,
    reference_judge,
)
from autodp.search.evidence import DATASET_WIDE_EVIDENCE, dataset_evidence, duplicate_evidence
from autodp.search.published import published_result
from autodp.search.state import (
    Baseline,
    Candidate,
    Confirmation,
    Reflection,
    SearchRun,
    Targets,
    Trial,
)
from autodp.search.targeting import flagged_removed, load_targets, select_targets
from autodp.search.value_judge import candidate_value, flow_differences, raw_value
from autodp.search.value_judge import extractor as value_extractor
from autodp.store import ArtifactStore, lineage
from autodp.tables import engine
from autodp.tables.profile import profile

PAIRED_FLOW = "paired_flow_difference"  # choose's tie rule under the gradient-flow signal (flow_ties)


@dataclass
class SearchContext:
    """What every step works with; a DAG task builds it from its Params and connections."""

    store: ArtifactStore
    config: SearchConfig
    resources: Resources


def search(dataset_key: str, store: ArtifactStore, config: SearchConfig | None = None,
           resources: Resources | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The whole loop in one process; the ``autodp_search`` DAG runs the same steps as tasks."""
    context = SearchContext(store, config or SearchConfig(), (resources or Resources()).using(store))
    say = progress or (lambda message: None)
    key = run_key(dataset_key, context.config)
    if store.has(PUBLISHED, key):
        return published_result(store, key)
    started = time.perf_counter()
    run = sample(context, dataset_key)
    say(f"evaluation split: {run.eval_examples} examples ({run.eval_source}); sample: {run.sample_rows} "
        f"rows, JS divergence {run.fidelity['js_divergence']}")
    run = target(context, run)
    if run.targets:
        say(f"target selection: {run.targets.flagged} of {run.targets.rows} rows flagged")
    run = baseline(context, run)
    if run.raw_value:
        say(f"raw sample valued by {run.raw_value.signal} ({run.raw_value.features_computed} records' gradients "
            f"computed, {run.raw_value.seconds} s)")
    else:
        say(f"baseline adapter trained ({run.baseline.steps} steps)")
    reflections: list[Reflection | None] = []
    history: list[Trial] = []
    for iteration in range(1, context.config.iterations + 1):
        judged = []
        for candidate in propose(context, run, iteration, history):
            trial = evaluate(context, run, finetune(context, run, apply(context, run, candidate)))
            judged.append(trial)
            low, high = trial.ci95 or (trial.score, trial.score)
            say(f"iteration {iteration}: {trial.origin} strategy score {trial.score:+.5f} [{low:+.5f}, {high:+.5f}] "
                f"({' > '.join(s['operator'] for s in trial.steps)})")
        reflections.append(reflect(context, reflections[-1] if reflections else None, judged, iteration))
        history = reflections[-1].history
        if reflections[-1].converged:
            say("converged: no better strategy in the last iterations")
            break
    chosen = select(reflections)
    confirmation = confirm(context, run, chosen)
    if confirmation.candidates:
        say(f"confirmed {len(confirmation.candidates)} candidates against raw ({confirmation.seeds} seeds each, "
            f"{confirmation.draw['rows']} rows drawn, {confirmation.examples} examples): "
            + ", ".join(c["verdict"] for c in confirmation.candidates))
    result = publish(context, run, chosen, confirmation, seconds=time.perf_counter() - started)
    say(f"published: {result['data_card']['rows']['in']} -> {result['data_card']['rows']['out']} rows, "
        f"{result['verdict']}")
    return result


def sample(context: SearchContext, dataset_key: str) -> SearchRun:
    """Hold out the evaluation split, draw the search sample and profile it."""
    config, resources = context.config, context.resources
    confirm_size = config.confirm_size if config.confirm_top else 0
    split = evaluation_split(context.store, dataset_key, config.eval_size + confirm_size, config.seed,
                             config.eval_dataset, resources)
    confirming = min(confirm_size, split["examples"] * confirm_size // (config.eval_size + confirm_size))
    _, held_out = load_examples(context.store, split["evaluation_key"], resources.settings)
    sampled = sampling.sample(dataset_key, context.store, seed=config.seed, exclude_rows=held_out,
                              resources=resources,
                              **({"size": config.sample_size} if config.sampling else {"fraction": 1.0}))
    profile(sampled["dataset_key"], context.store, resources.settings)
    drawn = confirmation_draw(context, dataset_key, held_out, sampled) if confirm_size else None
    return SearchRun(run_key=run_key(dataset_key, config), dataset_key=dataset_key,
                     sample_key=sampled["dataset_key"], sample_rows=sampled["rows"], fidelity=sampled["fidelity"],
                     evaluation_key=split["evaluation_key"], eval_source=split["source"],
                     eval_examples=split["examples"] - confirming, confirmation_examples=confirming,
                     eval_screen={k: split[k] for k in ("rows", "passed_screen", "screened_out")},
                     confirm_draw=drawn)


def confirmation_draw(context: SearchContext, dataset_key: str, held_out: frozenset[int],
                      sampled: dict[str, Any]) -> dict[str, Any]:
    """The rows ``confirm`` trains its arms on: ``confirm_rows`` rows drawn as the sample is,
    from the rows neither held out nor in the sample; from the sample's too when fewer than
    that lie outside it. On the sample alone (a few hundred rows) a strategy that drops a
    third of them is judged on repeating its rest, which the full data would not do."""
    config, store = context.config, context.store
    fresh = sampled["rows_full"] - sampled["rows"] >= config.confirm_rows  # rows_full: all but the held-out rows
    excluded = held_out | _source_rows(store, sampled["dataset_key"], context.resources.settings) if fresh else held_out
    drawn = sampling.sample(dataset_key, store, seed=config.seed, size=config.confirm_rows, exclude_rows=excluded,
                            resources=context.resources)
    return {"dataset_key": drawn["dataset_key"], "rows": drawn["rows"], "fresh": fresh}


def target(context: SearchContext, run: SearchRun) -> SearchRun:
    """Train the classifier that flags the sample rows worth an LLM call (when switched on)."""
    if not context.config.target_selection:
        return run
    targets = select_targets(run.sample_key, context.store, seed_size=min(300, run.sample_rows),
                             seed=context.config.seed, resources=context.resources)
    return run.but(targets=Targets.from_dict(targets))


def baseline(context: SearchContext, run: SearchRun) -> SearchRun:
    """What every candidate is scored against. By the gradient-flow signal: the raw sample's
    and the references' features, computed once. By the reference judge: the model trained
    the same way on the unprocessed sample, scored once, and a second one trained with
    another seed, whose distance from the first is the noise floor that sets the tie margin."""
    config, resources, store = context.config, context.resources, context.store
    if config.signal == "gradient_flow":
        return run.but(raw_value=raw_value(store, run.sample_key, _examples(context, run), config.base,
                                           resources.settings))
    adapters = [lora.finetune(run.sample_key, store, base=config.base, lora=settings, settings=resources.settings,
                              reuse=config.reuse)
                for settings in (config.lora, replace(config.lora, seed=config.lora.seed + 1))]
    examples = _examples(context, run)

    def scores() -> dict[str, Any]:
        first, reseeded = (adapter_nll(store, a["adapter_key"], config.base, examples, resources.settings)
                           for a in adapters)
        answers = (adapter_answers(store, adapters[0]["adapter_key"], config.base, [e.prompt for e in examples],
                                   settings=resources.settings) if config.llm_judge else None)
        return {"nll": [float(x) for x in first], "answers": answers,
                "noise": noise_floor(first, reseeded, config.seed)}

    material = {"adapters": [a["adapter_key"] for a in adapters], "evaluation": run.evaluation_key,
                "llm_judge": config.llm_judge}
    scored, _ = _stored(store, "baseline", material, scores, config.reuse)
    noise = _read_stored(store, scored)["noise"]
    return run.but(baseline=Baseline(adapter_key=adapters[0]["adapter_key"], steps=adapters[0]["steps"],
                                     scores_key=scored, reseeded_adapter_key=adapters[1]["adapter_key"],
                                     tie_margin=noise["tie_margin"], noise=noise))


def propose(context: SearchContext, run: SearchRun, iteration: int, history: list[Trial]) -> list[Candidate]:
    """The candidates of one iteration; never one already evaluated. Stored with the
    agent's audit entries, so a re-run proposes the same candidates."""
    config = context.config
    seen = {h.strategy_key for h in history}
    one_shot = config.method == "one_shot"
    material = {"run": run.run_key, "iteration": 0 if one_shot else iteration,
                "history": [] if one_shot else sorted(seen)}

    augmenting = augmentation_operators(context.store, config.augmentation_model)

    def proposals() -> dict[str, Any]:
        allowed = list(config.operators) + [name for name in augmenting if name not in config.operators]
        if config.method == "random":
            rng = random.Random(f"{config.seed}:{iteration}")
            return {"candidates": [{"steps": with_model(s, config.augmentation_model, augmenting), "origin": "random"}
                                   for s in random_strategies(config.candidates, rng, allowed, set(seen))],
                    "audit": [], "repairs": 0, "failures": 0}
        audit = AuditLog()
        agent = StrategyAgent(context.resources.client("agent"), allowed, audit,
                              seed=config.seed * 1000 + (0 if one_shot else iteration))
        report = profile(run.sample_key, context.store, context.resources.settings)
        evidence = dataset_evidence(run.sample_key, context.store, context.resources)
        whole = tuple(name for name in DATASET_WIDE_EVIDENCE if name in allowed)
        evidence.update(duplicate_evidence(run.dataset_key, context.store, context.resources, whole))
        shown = agent_context(report, run.fidelity, allowed, [] if one_shot else history, evidence, augmenting)
        count = config.iterations * config.candidates if one_shot else config.candidates
        found = agent.propose(shown, count, set(seen))
        return {"candidates": [{"steps": with_model(s, config.augmentation_model, augmenting), "origin": origin}
                               for s, origin in found],
                "audit": audit.entries, "repairs": agent.repairs, "failures": agent.failures,
                "prior": {"operators": shown["profile_prior"]["operators"], "evidence": evidence,
                          "measured_on_whole_dataset": list(whole)}}

    stored, _ = _stored(context.store, "proposals", material, proposals, reuse=True)
    candidates = _read_stored(context.store, stored)["candidates"]
    if one_shot:
        candidates = candidates[(iteration - 1) * config.candidates:iteration * config.candidates]
    return [Candidate(steps=c["steps"], origin=c["origin"], iteration=iteration, proposals_key=stored)
            for c in candidates if Strategy.from_data(c["steps"]).key() not in seen]


def augmentation_operators(store: ArtifactStore, family: str | None) -> dict[str, dict[str, Any]]:
    """The operators that run the registered augmentation family ``family``, each with its
    entry's scores (aggregates the agent may see); none without a family."""
    if not family:
        return {}
    from autodp import operators
    from autodp.augmentation.registry import resolve

    found = {}
    for name, operator in operators.registry().items():
        if operator.augmentation_task is None:
            continue
        try:
            entry = resolve(store, family, operator.augmentation_task)
        except LookupError:
            continue
        found[name] = {"model": family, "entry": entry["key"], "scores": entry["scores"]}
    if not found:
        raise LookupError(f"no augmentation model {family!r} is registered in store {store.uri} (autodp distill)")
    return found


def with_model(strategy: Strategy, family: str | None, augmenting: dict[str, Any]) -> list[dict[str, Any]]:
    """The strategy's canonical steps, those of the family's operators running its models."""
    steps = strategy.canonical()["steps"]
    for step in steps:
        if step["operator"] in augmenting:
            step["params"]["model"] = family
    return Strategy.from_data(steps).canonical()["steps"]


def apply(context: SearchContext, run: SearchRun, candidate: Candidate) -> Trial:
    """The candidate's strategy over the sample, reusing every stored prefix."""
    strategy = Strategy.from_data(candidate.steps)
    started = time.perf_counter()
    applied = apply_strategy(run.sample_key, strategy, context.store, _with_targets(context, run),
                             reuse=context.config.reuse)
    flagged = (flagged_removed(context.store, run.targets.targets_key, run.sample_key, applied["output_key"],
                               context.resources.settings) if run.targets else None)
    return Trial(iteration=candidate.iteration, origin=candidate.origin, proposals_key=candidate.proposals_key,
                 strategy_key=strategy.key(), steps=strategy.canonical()["steps"], output_key=applied["output_key"],
                 rows_out=applied["rows_out"], cache_hits=applied["cache_hits"], llm_calls=applied["llm_calls"],
                 llm_rows_skipped=applied["llm_rows_skipped"], seconds=round(time.perf_counter() - started, 2),
                 flagged=flagged)


def finetune(context: SearchContext, run: SearchRun, trial: Trial) -> Trial:
    """A LoRA adapter on the candidate's output (none when the strategy left no rows, or when
    the gradient-flow signal scores it: that needs no training)."""
    if not trial.rows_out or context.config.signal == "gradient_flow":
        return trial
    config = context.config
    started = time.perf_counter()
    adapter = lora.finetune(trial.output_key, context.store, base=config.base, lora=config.lora,
                            settings=context.resources.settings, reuse=config.reuse)
    return trial.but(adapter_key=adapter["adapter_key"], adapter_cached=adapter["cached"],
                     seconds=trial.seconds + round(time.perf_counter() - started, 2))


def evaluate(context: SearchContext, run: SearchRun, trial: Trial) -> Trial:
    """The candidate's score: its value against the raw sample's by the gradient-flow signal; or
    its win rate against the baseline by the reference judge, and the LLM judge's when asked."""
    if context.config.signal == "gradient_flow":
        return _valued(context, run, trial)
    if trial.adapter_key is None:
        return trial.but(score=-0.5, win_rate=0.0, ci95=[0.0, 0.0], note="no rows left")
    config, resources, store = context.config, context.resources, context.store
    started = time.perf_counter()
    assert run.baseline is not None, "evaluate runs after baseline"
    baseline_run = run.baseline

    def verdicts() -> dict[str, Any]:
        examples = _examples(context, run)
        scores = _read_stored(store, baseline_run.scores_key)
        verdict = reference_judge(store, trial.adapter_key, baseline_run.adapter_key, config.base, examples,
                                  tie_margin=baseline_run.tie_margin, seed=config.seed, settings=resources.settings,
                                  baseline_nll=np.array(scores["nll"]))
        judged = None
        if config.llm_judge:
            judged = llm_judge(store, trial.adapter_key, baseline_run.adapter_key, config.base, examples,
                               resources.client("judge"), seed=config.seed, settings=resources.settings,
                               baseline_answers=scores["answers"])
            judged = {k: judged[k] for k in ("win_rate", "ci95", "wins", "ties", "losses", "model",
                                             "first_shown_preferred", "usable", "unusable_reason")}
        return {"reference": verdict, "llm_judge": judged}

    key, cached = _stored(store, "verdicts", {"adapter": trial.adapter_key, "baseline": baseline_run.scores_key},
                          verdicts, config.reuse)
    stored = _read_stored(store, key)
    verdict = stored["reference"]
    return trial.but(llm_judge=stored["llm_judge"], verdict_cached=cached, score=verdict["score"],
                     win_rate=verdict["win_rate"], ci95=verdict["ci95"], wins=verdict["wins"], ties=verdict["ties"],
                     losses=verdict["losses"], delta_nll=verdict["delta_nll"], seconds=trial.seconds + round(time.perf_counter() - started, 2))


def _valued(context: SearchContext, run: SearchRun, trial: Trial) -> Trial:
    """The gradient-flow signal's verdict (``value_judge.candidate_value``): the score is the
    mean difference in value over the references, its interval theirs. A strategy that left
    no rows teaches nothing: its value is zero on every reference."""
    assert run.raw_value is not None, "evaluate runs after baseline"
    config, store = context.config, context.store
    started = time.perf_counter()
    material = {"output": trial.output_key, "sample": run.sample_key, "signal": run.raw_value.signal,
                "features": [run.raw_value.sample_features_key, run.raw_value.reference_features_key],
                "seed": config.seed}
    key, cached = _stored(store, "value", material,
                          lambda: candidate_value(store, trial.output_key, run.sample_key, _examples(context, run),
                                                  config.base, context.resources.settings, config.seed),
                          config.reuse)
    seconds = round(time.perf_counter() - started, 2)
    value = {**_read_stored(store, key), "seconds": seconds}  # the time of this call, not stored with the figures
    return trial.but(score=value["difference"], ci95=value["ci95"], value=value, verdict_cached=cached,
                     note=None if trial.rows_out else "no rows left", seconds=trial.seconds + seconds)


def reflect(context: SearchContext, previous: Reflection | None, judged: list[Trial], iteration: int) -> Reflection:
    """The history grows by this iteration's trials; converged when no iteration in the
    last ``patience`` improved on the best before it."""
    history = (previous.history if previous else []) + list(judged)
    best_by_iteration = [max((h.score for h in history if h.iteration <= i), default=float("-inf"))
                         for i in range(1, iteration + 1)]
    stale = 0
    for before, now in zip(best_by_iteration, best_by_iteration[1:]):
        stale = 0 if now > before else stale + 1
    best = max(history, key=Trial.rank, default=None)
    return Reflection(iteration=iteration, converged=stale >= context.config.patience, history=history,
                      best_score=best.score if best else None,
                      best_strategy_key=best.strategy_key if best else None)


def select(reflections: list[Reflection | None]) -> Reflection:
    """The last iteration's reflection (later iterations may have been skipped)."""
    for reflection in reversed(reflections):
        if reflection and reflection.history:
            return reflection
    raise ValueError("no iteration evaluated a strategy: nothing to select")


def confirm(context: SearchContext, run: SearchRun, chosen: Reflection) -> Confirmation:
    """The top ``confirm_top`` candidates (the one ``choose`` picks first, then by score) and
    raw, each fine-tuned with ``confirm_seeds`` seeds at the confirmation budget on the
    confirmation draw (raw: the draw; a candidate: its strategy applied to it) and scored on
    the examples the selection never used (``autodp.search.confirmation``)."""
    config, store, settings = context.config, context.store, context.resources.settings
    budget = config.confirm_lora.material()
    draw = run.confirm_draw  # drawn by ``sample`` whenever examples are kept for the confirmation
    top = confirmable(context, run, chosen.history, config.confirm_top)
    if not top or run.confirmation_examples < 2:
        return Confirmation(budget=budget, seeds=config.confirm_seeds, examples=run.confirmation_examples,
                            raw_adapters=[], candidates=[], draw=draw)

    def figures() -> dict[str, Any]:
        examples = _confirmation_examples(context, run)
        outputs = {t.strategy_key: on_draw(context, draw, t.steps) for t in top}
        trained = [t for t in top if outputs[t.strategy_key]["rows"]]
        arms = {"raw": draw["dataset_key"], **{t.strategy_key: outputs[t.strategy_key]["output_key"] for t in trained}}
        scored = {arm: seeded_nll(store, key, config.base, config.confirm_lora, config.confirm_seeds, examples,
                                  settings, config.reuse) for arm, key in arms.items()}
        raw = scored["raw"][0]
        return {"raw_adapters": scored["raw"][1], "candidates": [
            {"strategy_key": t.strategy_key, "adapters": scored[t.strategy_key][1], "search_score": t.score,
             "rows": outputs[t.strategy_key]["rows"], **confirmed(raw, scored[t.strategy_key][0], config.seed)}
            for t in trained]}

    material = {"candidates": [[t.strategy_key, t.output_key] for t in top], "sample": run.sample_key,
                "draw": draw["dataset_key"], "evaluation": run.evaluation_key,
                "examples": [run.eval_examples, run.confirmation_examples], "budget": budget,
                "seeds": config.confirm_seeds, "base": config.base, "seed": config.seed}
    key, _ = _stored(store, "confirmation", material, figures, config.reuse)
    stored = _read_stored(store, key)
    return Confirmation(budget=budget, seeds=config.confirm_seeds, examples=run.confirmation_examples,
                        raw_adapters=stored["raw_adapters"], candidates=stored["candidates"], draw=draw)


def on_draw(context: SearchContext, draw: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """A strategy on the confirmation draw (``SearchRun.confirm_draw``): its output key and rows."""
    applied = _apply_beyond_sample(context, draw["dataset_key"], Strategy.from_data(steps))
    rows = draw["rows"] if applied["rows_out"] is None else applied["rows_out"]  # None: a strategy of no steps
    return {"output_key": applied["output_key"], "rows": rows}


def confirmable(context: SearchContext, run: SearchRun, history: list[Trial], top: int) -> list[Trial]:
    """The candidates worth confirming: the one ``choose`` would publish, then the best-scored
    others, each with rows left to train on."""
    trained = [h for h in history if h.rows_out and h.score is not None]
    if not trained or top < 1:
        return []
    first, _ = choose_by_signal(context, run, trained)
    others = sorted((h for h in trained if h.strategy_key != first.strategy_key), key=Trial.rank, reverse=True)
    return [first, *others][:top]


def confirmed_choice(history: list[Trial], best: Trial, selection: dict[str, Any],
                     confirmation: Confirmation | None) -> tuple[Trial, dict[str, Any]]:
    """The strategy to publish once confirmed: the search's choice, unless it was not shown
    better than raw and another confirmed candidate was; then, of those shown better, the one
    whose interval's lower end is highest. The verdict goes with it."""
    if not confirmation or not confirmation.candidates:
        return best, {**selection, "verdict": NOT_CONFIRMED}
    by_key = {c["strategy_key"]: c for c in confirmation.candidates}
    better = [c for c in confirmation.candidates if c["verdict"] == BETTER]
    own = by_key.get(best.strategy_key)
    if not better or (own and own["verdict"] == BETTER):
        return best, {**selection, "verdict": own["verdict"] if own else NOT_CONFIRMED}
    pick = max(better, key=lambda c: c["delta_nll"]["ci95"][0])
    trial = next(h for h in history if h.strategy_key == pick["strategy_key"])
    return trial, {**selection, "rule": "confirmed_better", "verdict": pick["verdict"],
                   "search_choice": best.strategy_key}


def choose(history: list[Trial], reach: float, tied_keys: set[str] | None = None) -> tuple[Trial, dict[str, Any]]:
    """The strategy to publish, and why. The best-scored strategy, unless the signal cannot
    tell others from it: by the reference judge, those whose mean ΔNLL is within ``reach``
    (``evaluation.noise_reach``) of its own; by the gradient-flow signal, ``tied_keys``
    (``flow_ties``). Among those the one that removes the most rows target selection flags,
    net of the unflagged rows it drops, is published (then the score, then the shorter)."""
    top = max(history, key=Trial.rank)
    if tied_keys is not None:
        tied = [h for h in history if h is top or h.strategy_key in tied_keys]
        tie_rule: dict[str, Any] = {"tie_rule": PAIRED_FLOW}
    else:
        top_delta = (top.delta_nll or {}).get("mean")
        if top_delta is None:
            return top, {"rule": "best_score", "best_scored": top.strategy_key, "tied": 1, "noise_reach": reach}
        tied = [h for h in history if (h.delta_nll or {}).get("mean") is not None
                and h.delta_nll["mean"] >= top_delta - reach]
        tie_rule = {"noise_reach": reach}
    chosen = max(tied, key=lambda h: (_flagged_net(h), h.rank()))
    return chosen, {"rule": "flagged_removed_among_tied" if chosen is not top else "best_score",
                    "best_scored": top.strategy_key, "tied": len(tied), **tie_rule, "flagged": chosen.flagged}


def choose_by_signal(context: SearchContext, run: SearchRun, history: list[Trial]) -> tuple[Trial, dict[str, Any]]:
    """``choose`` with the tie rule of the search's signal."""
    reach = noise_reach(run.baseline.noise if run.baseline else None)
    if run.raw_value is None:
        return choose(history, reach)
    return choose(history, reach, flow_ties(context, run, history))


def flow_ties(context: SearchContext, run: SearchRun, history: list[Trial]) -> set[str]:
    """The strategies the gradient-flow signal cannot tell from the best-scored one: those
    whose paired difference in value from it over the selection references
    (``value_judge.flow_differences``) has a 95% interval reaching zero. Each candidate's score
    is an interval against raw; two such intervals can overlap while the pair is separated, and
    a signal with no seed has no noise floor to tie within."""
    assert run.raw_value is not None, "flow ties are drawn after baseline"
    config, store = context.config, context.store
    top = max(history, key=Trial.rank)
    rivals = [h for h in history if h is not top and h.rows_out and h.score is not None]
    outputs = sorted({h.output_key for h in rivals} - {top.output_key})
    if not outputs:
        return {h.strategy_key for h in rivals}
    material = {"best": top.output_key, "rivals": outputs, "sample": run.sample_key, "signal": run.raw_value.signal,
                "features": [run.raw_value.sample_features_key, run.raw_value.reference_features_key],
                "seed": config.seed}

    def differences() -> dict[str, Any]:
        features = value_extractor(config.base, context.resources.settings)
        return flow_differences(store, features, top.output_key, outputs, run.sample_key, _examples(context, run),
                                context.resources.settings, config.seed)[0]

    key, _ = _stored(store, "flow_ties", material, differences, config.reuse)
    verdicts = _read_stored(store, key)
    return {h.strategy_key for h in rivals
            if h.output_key == top.output_key or not verdicts[h.output_key]["separated"]}


def _flagged_net(trial: Trial) -> int:
    flagged = trial.flagged or {}
    return flagged.get("flagged_removed", 0) - flagged.get("unflagged_dropped", 0)


def publish(context: SearchContext, run: SearchRun, chosen: Reflection, confirmation: Confirmation | None = None,
            seconds: float | None = None) -> dict[str, Any]:
    """The best strategy on the full dataset, with its data card and the agent's audit log;
    confirmed (``confirm``) when a confirmation is given."""
    store, config = context.store, context.config
    if store.has(PUBLISHED, run.run_key):
        result = published_result(store, run.run_key)
        lineage.read_artifact(store, DATASETS, run.dataset_key)
        lineage.wrote_artifact(store, DATASETS, result["published_dataset_key"])
        lineage.wrote_artifact(store, PUBLISHED, run.run_key)
        return result
    history = chosen.history
    if not history:
        raise ValueError("no strategy was evaluated: nothing to publish")
    best, selection = choose_by_signal(context, run, history)
    best, selection = confirmed_choice(history, best, selection, confirmation)
    final = _apply_beyond_sample(context, run.dataset_key, Strategy.from_data(best.steps))
    audit, repairs, failures, prior = [], 0, 0, None
    for key in dict.fromkeys(h.proposals_key for h in history):  # in order, once each
        proposals = _read_stored(store, key)
        audit += proposals["audit"]
        repairs, failures = repairs + proposals["repairs"], failures + proposals["failures"]
        prior = proposals.get("prior") or prior
    augmenting = augmentation_operators(store, config.augmentation_model)
    used = {s["operator"]: augmenting[s["operator"]] for s in best.steps if s["params"].get("model")}
    card = data_card(run, config, best, final, history, seconds, repairs, failures, prior, used, selection,
                     confirmation)
    verdicts = {c["strategy_key"]: {k: c[k] for k in ("verdict", "delta_nll", "per_seed")}
                for c in (confirmation.candidates if confirmation else [])}
    leaderboard = [{**h.to_dict(), **({"confirmed": verdicts[h.strategy_key]} if h.strategy_key in verdicts else {})}
                   for h in sorted(history, key=Trial.rank, reverse=True)]
    result = {"run_key": run.run_key, "published_key": run.run_key, "published_dataset_key": final["output_key"],
              "leaderboard": leaderboard, "best": best.to_dict(), "verdict": selection["verdict"], "data_card": card}
    card_text = markdown(card)
    with tempfile.TemporaryDirectory(prefix="autodp-hf-") as tmp:
        hf_files = hf_dataset_files(store, final["output_key"], Path(tmp), card_text, hf_name(final["output_key"]),
                                    context.resources.settings.dataset_license, settings=context.resources.settings)
        store.publish_json(PUBLISHED, run.run_key,
                           {AUDIT_FILE: "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in audit),
                            DATA_CARD_FILE: card, DATA_CARD_MARKDOWN_FILE: card_text, RESULT_FILE: result},
                           provenance={"step": "search", "version": SEARCH_VERSION, "dataset": run.dataset_key,
                                       "config": config.to_dict()},
                           summary={"best_score": best.score, "verdict": selection["verdict"],
                                    "published_dataset_key": final["output_key"]},
                           files=hf_files)
    lineage.wrote_artifact(store, PUBLISHED, run.run_key)
    return result


def _apply_beyond_sample(context: SearchContext, dataset_key: str, strategy: Strategy) -> dict[str, Any]:
    """The strategy on a dataset other than the sample (the full input, the confirmation
    draw). Flags from the sample name sample rows only, so LLM steps get targets selected on
    that dataset."""
    resources = replace(context.resources, targets=None, quality_scores=None)
    if context.config.target_selection and strategy.needs_llm():
        targets = select_targets(dataset_key, context.store, seed_size=300, seed=context.config.seed,
                                 resources=resources)
        resources.targets, resources.quality_scores = load_targets(context.store, targets["targets_key"])
    return shards.apply(dataset_key, strategy, context.store, resources, reuse=context.config.reuse)


def _with_targets(context: SearchContext, run: SearchRun) -> Resources:
    if not run.targets:
        return replace(context.resources, targets=None, quality_scores=None)
    targets, scores = load_targets(context.store, run.targets.targets_key)
    return replace(context.resources, targets=targets, quality_scores=scores)


def _source_rows(store: ArtifactStore, dataset_key: str, settings) -> frozenset[int]:
    with engine.connect(store, settings=settings) as con:
        return frozenset(row for (row,) in con.execute(
            "select source_row from read_parquet(?)", [store.file_location(DATASETS, dataset_key, RECORDS_FILE)]
        ).fetchall())


def _examples(context: SearchContext, run: SearchRun) -> list[Example]:
    """The examples that score candidates."""
    return load_examples(context.store, run.evaluation_key, context.resources.settings)[0][:run.eval_examples]


def _confirmation_examples(context: SearchContext, run: SearchRun) -> list[Example]:
    """The examples only ``confirm`` scores."""
    examples = load_examples(context.store, run.evaluation_key, context.resources.settings)[0]
    return examples[run.eval_examples:run.eval_examples + run.confirmation_examples]


def _stored(store: ArtifactStore, what: str, material: dict[str, Any], compute: Callable[[], Any],
            reuse: bool) -> tuple[str, bool]:
    """(key, found) of the small JSON result of ``compute`` stored under ``material``;
    ``compute`` runs only when it is not stored (or when ``reuse`` is off)."""
    key = content_key(what, SEARCH_VERSION, material)
    if reuse and store.has(SEARCH_STEPS, key):
        return key, True
    store.publish_json(SEARCH_STEPS, key, {RESULT_FILE: compute()}, summary={},
                       provenance={"step": what, "version": SEARCH_VERSION, **material})
    return key, False


def _read_stored(store: ArtifactStore, key: str) -> dict[str, Any]:
    return store.read_json(SEARCH_STEPS, key, RESULT_FILE)
