"""What a search is asked to do: one configuration, built the same way from the command
line and from the ``autodp_search`` DAG's Params (``SearchConfig.from_params``), whose
defaults and choices both take from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from autodp.hashing import content_key
from autodp.models.lora import LoraSettings

SEARCH_VERSION = "6"  # 2: screened held-out references, noise-floor tie margin, ΔNLL; 3: the prior proposed first;
# 4: the deduplicators' evidence from the whole dataset; 5: among strategies tied within the noise floor, the one
# removing the most flagged rows is published; 6: under the gradient-flow signal, so is it among the strategies whose
# paired flow difference from the best-scored one is not separated from zero
MAX_ITERATIONS = 5  # the autodp_search DAG has this many iteration groups
Method = Literal["agent", "random", "one_shot"]
Labeler = Literal["scorer", "rules", "llm", "column"]  # where target selection's seed labels come from
# What scores each candidate (autodp.search.value_judge): the gradient value's flow form against the raw sample, the
# signal that fails the fewest checks of make bench-ladder; or the reference judge, a LoRA fine-tune per candidate scored on the
# held-out references against a baseline fine-tuned on the raw sample.
Signal = Literal["gradient_flow", "reference"]
DEFAULT_OPERATORS = (
    "drop_empty_output", "normalize_text", "length_bounds", "exact_dedup", "near_dedup", "language_filter",
    "pii_redaction", "hallucinated_url_filter", "merged_instruction_filter", "boilerplate_strip",
    "truncation_filter", "mismatched_answer_filter", "relevance_filter", "diversity_selection",
)


# The budget at which the search's winners are confirmed (autodp.search.confirmation): the smallest measured on
# the quality ladder (make bench-ladder) at which 3 seeds separate its clean rung both from the same rows with 30%
# damaged (clean - mixed 30% test NLL -0.0271 [-0.0522, -0.0076]; 200 steps: -0.0221 [-0.0419, -0.0046]) and
# from a tenth of them (-0.0472 [-0.0709, -0.0236]; 200 steps, one seed: -0.9149). 30 steps separate the first
# (-0.0187 [-0.0421, -0.0021]) at about half the cost, but not the second (-0.0066 [-0.0155, +0.0038]). Trained
# and scored under bfloat16 autocast, it separates as in float32 (-0.0269 [-0.0520, -0.0070] and -0.0484
# [-0.0720, -0.0246]) in about three quarters of the seconds on a CPU that multiplies bfloat16 natively
# (training about 105 s against 140, scoring 34 s against 50).
CONFIRM_BUDGET = LoraSettings(steps=60, batch_size=4, max_length=128, precision="bfloat16")


@dataclass(frozen=True)
class SearchConfig:
    iterations: int = 2
    candidates: int = 3
    method: Method = "agent"
    base: str = "smollm2"  # the model fine-tuned per candidate: smollm2, tiny (tests) or a Hugging Face directory
    sample_size: int = 200
    signal: Signal = "gradient_flow"
    eval_size: int = 200  # held-out references (at most a quarter of the screened input)
    eval_dataset: str | None = None  # a trusted evaluation dataset's key, instead of a held-out split
    operators: tuple[str, ...] = DEFAULT_OPERATORS
    lora: LoraSettings = field(default_factory=LoraSettings)
    patience: int = 2
    seed: int = 0
    llm_judge: bool = False  # also judge with the judge endpoint (reported; the score stays the reference judge's)
    # A registered augmentation model family (autodp distill): the operators of its tasks join the pool and run it.
    augmentation_model: str | None = None
    # The three accelerations, each of which can be switched off to measure it (bench/search.py):
    sampling: bool = True  # search on a distribution-preserving sample; off: on every row but the eval split
    target_selection: bool = True  # LLM operators process PTS-flagged rows only; off: every row
    reuse: bool = True  # Cache-and-Reuse of stored prefixes and adapters; off: recompute them
    # Confirmation: the top ``confirm_top`` candidates (0: none) and raw, each fine-tuned with ``confirm_seeds``
    # seeds at ``confirm_lora`` and scored on ``confirm_size`` more held-out examples. The arms train on a fresh
    # draw of ``confirm_rows`` rows outside the search sample (raw: the draw; a candidate: its strategy applied to
    # it), enough that no arm repeats rows much in the budget's draws, as none would on the full data.
    confirm_top: int = 2
    confirm_seeds: int = 3
    confirm_size: int = 200
    confirm_rows: int = 1000
    confirm_lora: LoraSettings = field(default_factory=lambda: CONFIRM_BUDGET)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SearchConfig:
        """From the names the DAG's Params and the CLI share (``model``, ``lora_steps``,
        ``lora_epochs``, ``confirm_steps``, ``confirm_precision``, ``eval`` and the fields' own names); a name not given
        keeps its default, and names that are not the search's (``source``, ``store``) are ignored."""
        renamed = {"model": "base", "eval": "eval_dataset"}
        own = {f.name for f in fields(cls)} - {"lora", "confirm_lora"}
        values = {renamed.get(name, name): value for name, value in params.items()
                  if renamed.get(name, name) in own}
        for name in ("eval_dataset", "augmentation_model"):
            if not values.get(name):  # the form's empty string, or none given
                values[name] = None
        if "operators" in values:
            values["operators"] = tuple(values["operators"])
        lora = {name: params[f"lora_{name}"] for name in ("steps", "epochs") if f"lora_{name}" in params}
        confirm = replace(CONFIRM_BUDGET, **{name: params[f"confirm_{name}"] for name in ("steps", "precision")
                                             if f"confirm_{name}" in params})
        return cls(**values, lora=LoraSettings(**lora), confirm_lora=confirm)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as run keys take it: a search without an augmentation family, or
        without confirmation, or scored by the reference judge, or training in float32, keeps
        the key it had before the setting existed."""
        data = asdict(self)
        data["operators"] = list(self.operators)
        data["lora"], data["confirm_lora"] = self.lora.material(), self.confirm_lora.material()
        if data["signal"] == "reference":
            del data["signal"]
        if data["augmentation_model"] is None:
            del data["augmentation_model"]
        if not self.confirm_top:
            for name in ("confirm_top", "confirm_seeds", "confirm_size", "confirm_rows", "confirm_lora"):
                del data[name]
        return data


DEFAULTS = SearchConfig()


def run_key(dataset_key: str, config: SearchConfig) -> str:
    return content_key("search", SEARCH_VERSION, {"dataset": dataset_key, "config": config.to_dict()})
