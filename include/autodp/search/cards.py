"""Operator cards: when each operator of the search's pool helps, in terms of aggregates the
agent is shown, and the profile-driven prior built from them.

The evidence is ``autodp.search.evidence.operator_evidence`` over the search sample: the share of
rows each rule operator would drop or rewrite if it ran alone; the deduplicators' is
``autodp.search.evidence.duplicate_evidence``, the share each drops from the whole dataset (a
sample rarely holds both copies of a duplicate). It is a count per operator, never a
record. The prior is the operators whose evidence reaches ``PRIOR_MIN_SHARE``; it is
shown to the agent, labelled as the prior in the audit log and the data card, and fills
proposals the agent's answer left short (origin ``profile_prior``) before random
strategies do.
"""

from __future__ import annotations

from typing import Any, get_args

from autodp import operators
from autodp.operators.base import Stage

PRIOR_MIN_SHARE = 0.02  # an operator is suggested when it would touch at least 2% of the sample

WHOLE_DATASET_SHARE = "its share is of the whole dataset, where it runs, since the sample holds few of the copies"
HELPS_WHEN: dict[str, str] = {
    "drop_empty_output": "outputs are empty or placeholders (profile: output empty_rate, placeholder_rate)",
    "normalize_text": "text has irregular whitespace or control characters; cheap, changes no meaning",
    "length_bounds": "outputs are far too short or too long (profile: output chars_p50, chars_p95)",
    "exact_dedup": f"records repeat verbatim (profile: duplicate_rate_records); {WHOLE_DATASET_SHARE}",
    "near_dedup": f"records repeat with small edits; {WHOLE_DATASET_SHARE}",
    "language_filter": "some records are not in the main language (profile: languages)",
    "pii_redaction": "records carry e-mail addresses, phone numbers or record numbers; rewrites, drops nothing",
    "hallucinated_url_filter": "outputs cite URLs that the prompt never gave",
    "merged_instruction_filter": "another instruction and response are glued onto an output",
    "boilerplate_strip": "outputs open or close with stock phrases; rewrites, drops nothing",
    "truncation_filter": "outputs stop mid-sentence",
    "mismatched_answer_filter": "outputs answer another question than their own",
    "relevance_filter": "outputs are off-topic; a fixed similarity cut that can drop many good rows in "
                        "one-domain data (prefer mismatched_answer_filter there)",
    "diversity_selection": "a few topics dominate; drops rows by design to keep a diverse subset",
    "instruction_expansion": "the data is small or some kinds of task are rare; adds records, drops nothing",
    "pair_expansion": "the data is small; adds instruction-response pairs on the same topics",
    "instruction_refinement": "instructions are terse or vague (profile: instruction chars_p50); rewrites, "
                              "drops nothing",
}
# From an augmentation model's entry: what the agent is shown of it (scores, never data).
MODEL_FIGURES = ("validity", "win_rate_vs_teacher", "judge_usable", "imitation_delta_nll")


def cards(allowed: list[str], evidence: dict[str, float],
          augmenting: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One card per allowed operator: name, stage, when it helps, the share of the sample it
    would touch where that is measured, and the figures of the augmentation model it runs."""
    found = []
    for name in allowed:
        operator = operators.get(name)
        card: dict[str, Any] = {"name": name, "stage": operator.stage,
                                "helps_when": HELPS_WHEN.get(name, operator.describe())}
        if name in evidence:
            card["would_touch_share"] = evidence[name]
        if augmenting and name in augmenting:
            scores = augmenting[name]["scores"]
            card["runs_augmentation_model"] = {"name": augmenting[name]["model"],
                                               **{k: scores.get(k) for k in MODEL_FIGURES}}
        found.append(card)
    return found


def profile_prior(evidence: dict[str, float], allowed: list[str]) -> list[str]:
    """The operators the evidence suggests, in pipeline order."""
    return in_pipeline_order([n for n in allowed if evidence.get(n, 0.0) >= PRIOR_MIN_SHARE], allowed)


def in_pipeline_order(names: list[str], allowed: list[str]) -> list[str]:
    """Cleaning, selection, refinement, generation; within a stage, the order of ``allowed``."""
    stages = list(get_args(Stage))
    return sorted(dict.fromkeys(names), key=lambda n: (stages.index(operators.get(n).stage), allowed.index(n)))
