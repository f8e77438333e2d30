"""Judging datasets on a test set that no search ever scored, shared by the quality benchmarks:
by the reference judge (one adapter each), by the search's signal (no adapter) and at the
confirmation budget (several seeds each)."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any

from autodp.models import lora
from autodp.operators.resources import Resources
from autodp.search.confirmation import BETTER, NOT_SHOWN, WORSE, budget_text, confirmed, seeded_nll
from autodp.search.evaluation import (
    adapter_answers,
    adapter_nll,
    bootstrap_mean,
    compare_nll,
    llm_judge,
    noise_floor,
)
from autodp.search.loop import SearchContext, on_draw, sample
from autodp.search.value_judge import SIGNAL, extractor, flow_difference
from autodp.store import ArtifactStore


class TestSet:
    """Test references; each adapter's per-example NLL on them, and its answers to the first
    ``llm_examples`` of them, are computed once."""

    def __init__(self, store: ArtifactStore, examples: list, base: str, seed: int, settings,
                 llm_examples: int = 0) -> None:
        self.store, self.examples, self.base, self.seed, self.settings = store, examples, base, seed, settings
        self.llm_examples = examples[:llm_examples]
        self._nll: dict[str, Any] = {}
        self._seeded: dict[tuple, Any] = {}
        self._answers: dict[str, list[str]] = {}

    @cached_property
    def features(self):
        """The search's gradient features, one extractor for every flow verdict on this set."""
        return extractor(self.base, self.settings)

    def nll(self, adapter_key: str):
        if adapter_key not in self._nll:
            self._nll[adapter_key] = adapter_nll(self.store, adapter_key, self.base, self.examples, self.settings)
        return self._nll[adapter_key]

    def seeded_nll(self, dataset_key: str, config, lora=None):
        """seeds x examples NLL of the adapters ``dataset_key`` trains at the confirmation
        budget, or at ``lora`` in its place (stored adapters reused: the search's own)."""
        budget = lora or config.confirm_lora
        key = (dataset_key, budget, config.confirm_seeds)
        if key not in self._seeded:
            self._seeded[key] = seeded_nll(self.store, dataset_key, self.base, budget, config.confirm_seeds,
                                           self.examples, self.settings, reuse=True)[0]
        return self._seeded[key]

    def verdict(self, candidate: str, baseline: str, tie_margin: float) -> dict[str, Any]:
        """The reference judge's verdict, candidate against baseline."""
        return compare_nll(self.nll(baseline), self.nll(candidate), tie_margin, self.seed)

    def answers(self, adapter_key: str) -> list[str]:
        if adapter_key not in self._answers:
            self._answers[adapter_key] = adapter_answers(self.store, adapter_key, self.base,
                                                         [e.prompt for e in self.llm_examples],
                                                         settings=self.settings)
        return self._answers[adapter_key]

    def llm_verdict(self, candidate: str, baseline: str, client) -> dict[str, Any]:
        """The LLM judge's verdict on the first ``llm_examples``, both presentation orders."""
        return llm_judge(self.store, candidate, baseline, self.base, self.llm_examples, client, seed=self.seed,
                         settings=self.settings, baseline_answers=self.answers(baseline),
                         candidate_answers=self.answers(candidate))


def reference_figure(verdict: dict[str, Any]) -> str:
    low, high = verdict["ci95"]
    text = (f"win rate {verdict['win_rate']:.3f} [{low:.2f}, {high:.2f}] (W{verdict['wins']} T{verdict['ties']} "
            f"L{verdict['losses']})")
    delta = verdict.get("delta_nll")
    if delta:
        text += f", mean dNLL {delta['mean']:+.4f} [{delta['ci95'][0]:+.4f}, {delta['ci95'][1]:+.4f}]"
    return text


def llm_figure(verdict: dict[str, Any]) -> str:
    if verdict.get("usable") is False:
        return f"unusable: {verdict['unusable_reason']}"
    low, high = verdict["ci95"]
    return (f"win rate {verdict['win_rate']:.3f} [{low:.2f}, {high:.2f}] (W{verdict['wins']} T{verdict['ties']} "
            f"L{verdict['losses']}), first-shown answer preferred in {verdict['first_shown_preferred']:.0%}")


def raw_models(store, dataset_key, config, test: TestSet, settings) -> tuple[str, dict[str, Any]]:
    """The raw sample's model at the search's LoRA budget, and the test set's noise floor:
    it against the same training with another seed. Adapters are stored: a second call trains none."""
    run = sample(SearchContext(store, config, Resources(settings=settings)), dataset_key)  # stored: a lookup
    raw, reseeded = (lora.finetune(run.sample_key, store, base=config.base, lora=settings_, settings=settings)
                     ["adapter_key"] for settings_ in (config.lora, replace(config.lora, seed=config.lora.seed + 1)))
    return raw, noise_floor(test.nll(raw), test.nll(reseeded), config.seed)


def trained_model(store, best: dict[str, Any], config, settings) -> str:
    """The published strategy's sample output, fine-tuned as the search's candidates are by the
    reference judge (the search's own adapter when it trained one)."""
    return best.get("adapter_key") or lora.finetune(best["output_key"], store, base=config.base, lora=config.lora,
                                                    settings=settings)["adapter_key"]


def flow_verdict(store, a_key: str, b_key: str, sample_key: str, test: TestSet, settings) -> dict[str, Any]:
    """Dataset A against dataset B by the search's signal (the gradient value's flow form) on
    the test references: the mean difference in value (positive favours A) and its 95%
    interval over the references (``value_judge.flow_difference``, with the test set's
    features, so a rewritten record's gradient is computed once across calls)."""
    return flow_difference(store, test.features, a_key, b_key, sample_key, test.examples, settings, test.seed)[0]


def flow_figure(verdict: dict[str, Any]) -> str:
    low, high = verdict["ci95"]
    return (f"{SIGNAL} {verdict['mean']:+.4f} [{low:+.4f}, {high:+.4f}]"
            f"{'' if verdict['separated'] else ', not separated'}")


def confirmed_verdict(a_key: str, b_key: str, config, test: TestSet, rival: str | None = None) -> dict[str, Any]:
    """Dataset A against dataset B as the search confirms (``config.confirm_seeds`` adapters
    each at ``config.confirm_lora``, paired by seed), on the test references: ΔNLL is B's NLL
    minus A's (positive favours A). Adapters are stored: the search's own are reused. B is
    raw unless ``rival`` names whose strategy it is, which the verdict's words then say."""
    figures = _confirmed_figures(test.seeded_nll(b_key, config), test.seeded_nll(a_key, config), test)
    if rival is not None:
        figures["verdict"] = {BETTER: f"better than {rival}'s", WORSE: f"worse than {rival}'s",
                              NOT_SHOWN: "not separated"}[figures["verdict"]]
    return figures


def reseeded_verdict(draw_key: str, config, test: TestSet) -> dict[str, Any]:
    """The confirmation's own noise: raw retrained with the next ``config.confirm_seeds`` seeds
    against raw as the search confirms it, on the test references. The data are the same, so
    a verdict other than "not shown better" is the seeds alone: how often the confirmation
    calls a difference that is not there."""
    reseeded = replace(config.confirm_lora, seed=config.confirm_lora.seed + config.confirm_seeds)
    return _confirmed_figures(test.seeded_nll(draw_key, config), test.seeded_nll(draw_key, config, lora=reseeded), test)


def _confirmed_figures(b_nll, a_nll, test: TestSet) -> dict[str, Any]:
    """A against B (seeds x references NLL each): ``confirmed``'s figures and the win rate."""
    return {**confirmed(b_nll, a_nll, seed=test.seed), "win_rate": win_rate(b_nll, a_nll, seed=test.seed)}


def win_rate(b_nll, a_nll, seed: int = 0) -> dict[str, Any]:
    """The share of references on which A's model, its seeds averaged, has the lower NLL (a tie
    counts half): the head-to-head figure of a pair of confirmed arms (seeds x references
    each), with a 95% interval over the references. Seeds are not resampled: a resample
    that repeats one of three seeds averages fewer models, which pulls every share towards a
    half, so the interval would not hold the figure it is about."""
    b, a = b_nll.mean(axis=0), a_nll.mean(axis=0)
    rate, low, high = bootstrap_mean((a < b) + 0.5 * (a == b), seed)
    return {"rate": round(rate, 3), "ci95": [round(low, 3), round(high, 3)]}


def confirmed_figure(verdict: dict[str, Any]) -> str:
    delta = verdict["delta_nll"]
    text = (f"dNLL {delta['mean']:+.4f} [{delta['ci95'][0]:+.4f}, {delta['ci95'][1]:+.4f}], {verdict['verdict']} "
            f"(per seed {', '.join(f'{v:+.4f}' for v in verdict['per_seed'])})")
    if "win_rate" not in verdict:
        return text
    low, high = verdict["win_rate"]["ci95"]
    return text + f", win rate {verdict['win_rate']['rate']:.3f} [{low:.2f}, {high:.2f}]"


def confirmed_text(confirmation: dict[str, Any], best: dict[str, Any]) -> str:
    """A search's confirmed verdict on the strategy it published, from its data card."""
    published = next((c for c in confirmation.get("candidates", []) if c["strategy_key"] == best["strategy_key"]),
                     None)
    if published is None:
        return (f"{confirmation['verdict']} ({confirmation.get('reason', 'the published strategy')}"
                f"{'' if 'reason' in confirmation else ' was not among those confirmed'})")
    low, high = published["delta_nll"]["ci95"]
    return (f"{confirmation['verdict']}: dNLL {published['delta_nll']['mean']:+.4f} [{low:+.4f}, {high:+.4f}] "
            f"against raw over {confirmation['seeds']} seeds x {confirmation['examples']} examples the selection "
            f"never used, at {budget_text(confirmation['budget'])}")


def published_on_test(store, dataset_key: str, published: dict[str, dict[str, Any]], config, test: TestSet,
                      resources) -> dict[str, dict[str, Any]]:
    """Each search's published strategy against raw, and the agent's against the others', on
    the test set: their sample outputs by the search's signal (no fine-tune), then at the
    confirmation budget, the strategies applied to the search's confirmation draw (the
    search's own adapters, scored here). Prints both; returns the confirmation-budget
    verdicts by name (``"agent"``, ``"agent vs random"``, ...)."""
    context = SearchContext(store, config, resources)
    run = sample(context, dataset_key)  # stored: a lookup
    settings = resources.settings
    rivals = [m for m in ("random", "one_shot") if m in published and "agent" in published]
    outputs = {method: result["best"]["output_key"] for method, result in published.items()}
    print("  their sample outputs by the search's signal (no fine-tune):")
    pairs = [(f"{method} best vs raw", outputs[method], run.sample_key) for method in published]
    pairs += [(f"agent best vs {rival} best", outputs["agent"], outputs[rival]) for rival in rivals]
    for label, a_key, b_key in pairs:
        line(label, flow_figure(flow_verdict(store, a_key, b_key, run.sample_key, test, settings)))
    if not run.confirm_draw:
        return {}
    applied = {method: on_draw(context, run.confirm_draw, result["best"]["steps"]) for method, result in published.items()}
    drawn = {method: arm["output_key"] for method, arm in applied.items() if arm["rows"]}  # none: the draw emptied
    print(f"  at the confirmation budget ({config.confirm_seeds} seeds at {budget_text(config.confirm_lora.material())}, "
          f"on the draw's {run.confirm_draw['rows']:,} rows as each strategy leaves them; the search's own "
          f"adapters; win rate: the share of references on which the first named has the lower NLL):")
    confirmed = {}
    arms = [(f"{method} best vs raw", method, drawn[method], run.confirm_draw["dataset_key"], None)
            for method in drawn]
    arms += [(f"agent best vs {rival} best", f"agent vs {rival}", drawn["agent"], drawn[rival], rival)
             for rival in rivals if {"agent", rival} <= drawn.keys()]
    for label, name, a_key, b_key, rival in arms:
        confirmed[name] = confirmed_verdict(a_key, b_key, config, test, rival)
        line(label, confirmed_figure(confirmed[name]))
    confirmed["raw reseeded"] = reseeded_verdict(run.confirm_draw["dataset_key"], config, test)
    line("raw reseeded vs raw", confirmed_figure(confirmed["raw reseeded"]))
    return confirmed


def line(what: str, figure: str) -> None:
    print(f"  {what:<28} {figure}", flush=True)
