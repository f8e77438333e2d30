"""Judging datasets on a test set that no search ever scored, shared by the quality benchmarks:
by the reference judge (one adapter each), by the search's signal (no adapter) and at the
confirmation budget (several seeds each)."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any

from autodp.models import lora
from autodp.operators.resources import Resources
from autodp.search.confirmation import confirmed, seeded_nll
from autodp.search.evaluation import (
    adapter_answers,
    adapter_nll,
    compare_nll,
    llm_judge,
    noise_floor,
)
from autodp.search.loop import SearchContext, sample
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
        self._answers: dict[str, list[str]] = {}

    @cached_property
    def features(self):
        """The search's gradient features, one extractor for every flow verdict on this set."""
        return extractor(self.base, self.settings)

    def nll(self, adapter_key: str):
        if adapter_key not in self._nll:
            self._nll[adapter_key] = adapter_nll(self.store, adapter_key, self.base, self.examples, self.settings)
        return self._nll[adapter_key]

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


def confirmed_verdict(store, a_key: str, b_key: str, config, test: TestSet, settings) -> dict[str, Any]:
    """Dataset A against dataset B as the search confirms (``config.confirm_seeds`` adapters
    each at ``config.confirm_lora``, paired by seed), on the test references: ΔNLL is B's NLL
    minus A's (positive favours A). Adapters are stored: the search's own are reused."""
    nll = [seeded_nll(store, key, config.base, config.confirm_lora, config.confirm_seeds, test.examples, settings,
                      reuse=True)[0] for key in (b_key, a_key)]
    return confirmed(*nll, seed=test.seed)


def confirmed_figure(verdict: dict[str, Any]) -> str:
    delta = verdict["delta_nll"]
    return (f"dNLL {delta['mean']:+.4f} [{delta['ci95'][0]:+.4f}, {delta['ci95'][1]:+.4f}], {verdict['verdict']} "
            f"(per seed {', '.join(f'{v:+.4f}' for v in verdict['per_seed'])})")
