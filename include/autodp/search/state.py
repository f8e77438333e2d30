"""The search's state as it passes from step to step (and, in Airflow, through XCom as
plain JSON): small values with keys into the store, never data.

- ``SearchRun``: what ``sample``, ``target`` and ``baseline`` established;
- ``Candidate``: a strategy ``propose`` put forward;
- ``Trial``: one candidate on its way through ``apply``, ``finetune`` and ``evaluate``;
- ``Reflection``: the history after an iteration, and whether the search converged;
- ``Confirmation``: the top candidates against raw at several seeds, on examples the
  selection never used (``autodp.search.confirmation``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from autodp.state import JsonState


@dataclass(frozen=True)
class Targets(JsonState):
    targets_key: str
    flagged: int
    rows: int
    classifier: dict[str, Any]


@dataclass(frozen=True)
class Baseline(JsonState):
    adapter_key: str
    steps: int
    scores_key: str  # the baseline's per-example scores on the evaluation split (search_steps)
    reseeded_adapter_key: str  # the same training with another seed: the noise floor
    tie_margin: float  # from the noise floor (autodp.search.evaluation.noise_floor)
    noise: dict[str, Any]  # the reseeded baseline against the first: tie margin, win rate, ΔNLL


@dataclass(frozen=True)
class RawValue(JsonState):
    """The raw sample's side of the gradient-flow signal (``autodp.search.value_judge``): the
    stored features of the sample's records and of the references, computed once."""

    signal: str  # gradient_flow@<horizon>
    sample_features_key: str  # features artifacts (autodp.search.gradient_value.stored_features)
    reference_features_key: str
    features_computed: int
    seconds: float


@dataclass(frozen=True)
class SearchRun(JsonState):
    run_key: str
    dataset_key: str
    sample_key: str
    sample_rows: int
    fidelity: dict[str, Any]
    evaluation_key: str  # the stored evaluation examples (autodp.search.evaluation.evaluation_split)
    eval_source: str  # held_out or trusted_set
    eval_examples: int  # the examples candidates are scored on: the first of the stored ones
    eval_screen: dict[str, Any]  # rows, passed_screen, screened_out (reason -> rows)
    confirmation_examples: int = 0  # the stored examples after those: only the confirmation scores them
    # What the confirmation's arms train on (``loop.confirmation_draw``): dataset_key, rows, and whether every row
    # lies outside the sample (fresh).
    confirm_draw: dict[str, Any] | None = None
    targets: Targets | None = None
    baseline: Baseline | None = None  # the reference judge's fine-tuned baselines
    raw_value: RawValue | None = None  # or the gradient-flow signal's raw side

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchRun:
        return cls(**{**data, "targets": data["targets"] and Targets.from_dict(data["targets"]),
                      "baseline": data["baseline"] and Baseline.from_dict(data["baseline"]),
                      "raw_value": data.get("raw_value") and RawValue.from_dict(data["raw_value"])})


@dataclass(frozen=True)
class Candidate(JsonState):
    steps: list[dict[str, Any]]  # canonical strategy steps
    origin: str  # agent, repaired, random, ...
    iteration: int
    proposals_key: str  # the stored proposals (with the agent's audit entries) it came from


@dataclass(frozen=True)
class Trial(JsonState):
    iteration: int
    origin: str
    proposals_key: str
    strategy_key: str
    steps: list[dict[str, Any]]
    output_key: str
    rows_out: int
    cache_hits: int
    llm_calls: int
    llm_rows_skipped: int
    seconds: float
    flagged: dict[str, int] | None = None  # the sample's flagged rows it removed (targeting.flagged_removed)
    # finetune
    adapter_key: str | None = None
    adapter_cached: bool | None = None
    # evaluate
    score: float | None = None
    win_rate: float | None = None  # the reference judge's
    ci95: list[float] | None = None  # the win rate's interval (reference judge), or the score's (gradient flow)
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None
    delta_nll: dict[str, Any] | None = None  # mean baseline - candidate NLL per example, with its interval
    value: dict[str, Any] | None = None  # the gradient-flow signal's figures (autodp.search.value_judge)
    verdict_cached: bool | None = None
    llm_judge: dict[str, Any] | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Without the stages not reached (or judges not asked)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def rank(self) -> tuple[float, int]:
        """Higher is better: the score, then the shorter strategy."""
        return self.score if self.score is not None else float("-inf"), -len(self.steps)


@dataclass(frozen=True)
class Reflection(JsonState):
    iteration: int
    converged: bool
    history: list[Trial]
    best_score: float | None
    best_strategy_key: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reflection:
        return cls(**{**data, "history": [Trial.from_dict(t) for t in data["history"]]})


@dataclass(frozen=True)
class Confirmation(JsonState):
    """Each confirmed candidate (strategy key, adapters, figures and verdict), best first by
    the search's choice; none when confirmation is off or no candidate left any rows."""

    budget: dict[str, Any]  # the LoRA settings every arm was trained with
    seeds: int
    examples: int
    raw_adapters: list[str]
    candidates: list[dict[str, Any]]
    draw: dict[str, Any] | None = None  # what raw trained on: SearchRun.confirm_draw
