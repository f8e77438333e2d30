"""The data card of a published search: what was done to the data and how well it scored,
as JSON for tools and Markdown for people. Aggregates only, never a record."""

from __future__ import annotations

import json
from typing import Any

from autodp import operators
from autodp.exports.cards import strategy_sections
from autodp.search.cards import PRIOR_MIN_SHARE
from autodp.search.config import SearchConfig
from autodp.search.confirmation import (
    BETTER,
    NOT_CONFIRMED,
    budget_text,
    confirmed_arms_text,
    draw_text,
    ladder_note,
)
from autodp.search.state import Confirmation, SearchRun, Trial
from autodp.search.value_judge import LADDER

# Which operators a signal could favour beyond what fine-tuning would (no operator in the pool applies either one).
FAVOURS = {
    "gradient_flow": ("it counts distinct records and values each by what it teaches towards the references, so it "
                      "could favour operators that add or rewrite rows (augmentation, refinement) by their number, and "
                      "it cannot see a defect that leaves a record's gradient unchanged"),
    "reference": ("it rewards making the held-out answers likely, so it could favour operators that keep text like "
                  "the references (lengths, phrasing) over ones that change what a model learns"),
}


def data_card(run: SearchRun, config: SearchConfig, best: Trial, final: dict[str, Any], history: list[Trial],
              seconds: float | None, repairs: int, failures: int,
              prior: dict[str, Any] | None = None, augmentation: dict[str, Any] | None = None,
              selection: dict[str, Any] | None = None, confirmation: Confirmation | None = None) -> dict[str, Any]:
    """``final`` is the executor's summary of the best strategy applied to the full dataset;
    ``prior`` the profile-driven prior the agent was shown (operators and the evidence);
    ``augmentation`` the registered augmentation models the strategy's steps ran, by operator;
    ``selection`` why ``best`` was published (``autodp.search.loop.choose``);
    ``confirmation`` the top candidates against raw (``autodp.search.loop.confirm``)."""
    signal = "gradient_flow" if run.raw_value else "reference"
    return {
        "input_dataset_key": run.dataset_key,
        "output_dataset_key": final["output_key"],
        "strategy": best.steps,
        "operator_versions": {s["operator"]: operators.get(s["operator"]).version for s in best.steps},
        # operator -> the family's name, the entry its name resolved to, and that model's scores
        "augmentation_models": augmentation or {},
        "rows": {"in": final["rows_in"], "out": final["rows_out"]},
        "drop_reasons": {s["operator"]: s["dropped"] for s in final["steps"] if s["dropped"]},
        "changes": {s["operator"]: s["changed"] for s in final["steps"] if s["changed"]},
        "score": {"judge": run.raw_value.signal if run.raw_value else "reference", "signal": signal,
                  "win_rate": best.win_rate, "ci95": best.ci95, "score": best.score,
                  "delta_nll": best.delta_nll, "value": best.value, "llm_judge": best.llm_judge,
                  "ladder": LADDER if run.raw_value else "fails make bench-ladder (see docs/reference/benchmarks.md)",
                  "could_favour": FAVOURS[signal],
                  "cost": ({"raw_features_s": run.raw_value.seconds, "raw_features_computed":
                            run.raw_value.features_computed, "candidate_s": [h.value["seconds"] for h in history
                                                                             if h.value]}
                           if run.raw_value else None),
                  "evaluation": run.eval_source,
                  "evaluation_examples": run.eval_examples, "evaluation_key": run.evaluation_key,
                  "evaluation_screen": run.eval_screen, "base_model": config.base,
                  "tie_margin": run.baseline.tie_margin if run.baseline else None,
                  "noise_floor": run.baseline.noise if run.baseline else None},
        "confirmation": confirmation_section(confirmation, config, (selection or {}).get("verdict", NOT_CONFIRMED)),
        "baseline_adapter": run.baseline.adapter_key if run.baseline else None,
        "fidelity": run.fidelity,
        "target_selection": run.targets.to_dict() if run.targets else None,
        "search": {"method": config.method, "iterations_run": max(h.iteration for h in history),
                   "strategies_evaluated": len(history),
                   "seconds": round(seconds, 1) if seconds is not None else None,
                   "agent_repairs": repairs, "agent_failures": failures,
                   "accelerations": {"sampling": config.sampling, "target_selection": config.target_selection,
                                     "reuse": config.reuse},
                   "origins": {o: sum(h.origin == o for h in history) for o in sorted({h.origin for h in history})},
                   "profile_prior": prior, "selection": selection},
        "llm_calls": {"search": sum(h.llm_calls for h in history),
                      "rows_skipped_by_target_selection": sum(h.llm_rows_skipped for h in history),
                      "publish": final["llm_calls"],
                      # Calls of the published apply that failed after their retries, or whose answer broke its
                      # schema, by reason: those records were left as they were (and the steps stored apart).
                      "publish_failures": final.get("llm_failures", {})},
    }


def confirmation_section(confirmation: Confirmation | None, config: SearchConfig, verdict: str) -> dict[str, Any]:
    """The published strategy's confirmed ``verdict`` (``autodp.search.loop.confirmed_choice``),
    and every confirmed candidate's figures."""
    if not confirmation or not confirmation.candidates:
        reason = ("switched off (confirm_top 0)" if not config.confirm_top else "not run" if confirmation is None
                  else "not possible: no candidate left rows to train on, or too few evaluation examples were left")
        return {"verdict": NOT_CONFIRMED, "reason": reason}
    return {"verdict": verdict,
            "signal": "reference NLL of held-out answers the selection never scored, raw minus candidate",
            "budget": confirmation.budget, "ladder": ladder_note(confirmation.budget),
            "seeds": confirmation.seeds, "examples": confirmation.examples, "draw": confirmation.draw,
            "raw_adapters": confirmation.raw_adapters,
            "candidates": [{k: c[k] for k in ("strategy_key", "search_score", "rows", "adapters", "verdict",
                                              "delta_nll", "per_seed", "mean_nll")} for c in confirmation.candidates]}


def markdown(card: dict[str, Any]) -> str:
    score = card["score"]
    return (f"# Data card\n\n- input dataset `{card['input_dataset_key']}`\n- output dataset "
            f"`{card['output_dataset_key']}`\n- rows {card['rows']['in']} -> {card['rows']['out']}\n\n"
            f"{strategy_sections(card)}## Score\n\n{_score_line(score)}{_signal_line(score)}"
            f"{_delta_line(score)}{_noise_line(score)}{_screen_line(score)}{_llm_judge_line(score['llm_judge'])}"
            f"{_confirmation_section(card.get('confirmation'))}{_search_section(card['search'])}## Sample fidelity\n\n{json.dumps(card['fidelity'])}\n")


def _confirmation_section(confirmation: dict[str, Any] | None) -> str:
    if not confirmation:  # a card published before confirmation existed
        return ""
    if confirmation["verdict"] == NOT_CONFIRMED and "candidates" not in confirmation:
        return (f"## Confirmation\n\n**Not confirmed**: confirmation was {confirmation['reason']}. The score above is "
                "the search's own, on the examples that chose the strategy; it is not evidence that the strategy "
                "trains a better model than the raw data.\n\n")
    lines = "".join(
        f"- `{c['strategy_key'][:12]}` (search score {c['search_score']:+.3f}): ΔNLL {c['delta_nll']['mean']:+.4f} "
        f"(95% CI {c['delta_nll']['ci95'][0]:+.4f} to {c['delta_nll']['ci95'][1]:+.4f}), {c['verdict']}\n"
        for c in confirmation["candidates"])
    headline = ("**Better than raw**" if confirmation["verdict"] == BETTER else
                f"**{confirmation['verdict'].capitalize()}**")
    return (f"## Confirmation\n\n{headline}. {confirmed_arms_text(len(confirmation['candidates']))} and raw were "
            f"each fine-tuned {draw_text(confirmation.get('draw'))} with {confirmation['seeds']} seeds at "
            f"{budget_text(confirmation['budget'])} and scored on {confirmation['examples']} held-out examples the "
            "selection never used; ΔNLL is raw minus candidate (nats per token, positive favours the candidate), "
            "its interval over seeds and examples together. A strategy is called better than raw only when that "
            f"interval lies above zero. {confirmation.get('ladder', '')}\n\n{lines}\n")


def _score_line(score: dict[str, Any]) -> str:
    where = (f"{score['evaluation_examples']} {score['evaluation'].replace('_', ' ')} examples, base model "
             f"{score['base_model']}")
    value = score.get("value")
    if value:
        low, high = value["ci95"]
        return (f"Judged by `{score['judge']}`, the gradient value's flow form, without fine-tuning: the published "
                f"strategy's output against the unprocessed sample, difference in value {value['difference']:+.5f} "
                f"(95% CI {low:+.5f} to {high:+.5f}; positive favours the curated rows) on {where}.\n\n")
    return (f"Win rate {score['win_rate']} (95% CI {score['ci95'][0]}-{score['ci95'][1]}) against the baseline "
            f"trained on the unprocessed sample; {score['judge']} judge, {where}.\n\n")


def _signal_line(score: dict[str, Any]) -> str:
    if "could_favour" not in score:  # a card published before the signal was named
        return ""
    cost = score.get("cost")
    spent = (f" It cost {cost['raw_features_s']} s once for the sample's and references' features "
             f"({cost['raw_features_computed']} computed), then "
             f"{max(cost['candidate_s'], default=0)} s at most a candidate." if cost else "")
    return f"The signal {score['ladder']}.{spent} What it could favour: {score['could_favour']}.\n\n"


def _delta_line(score: dict[str, Any]) -> str:
    delta = score.get("delta_nll")
    if not delta or delta["mean"] is None:
        return ""
    return (f"Mean ΔNLL (baseline minus candidate, nats per reference token; positive favours the candidate) "
            f"{delta['mean']} (95% CI {delta['ci95'][0]} to {delta['ci95'][1]}).\n\n")


def _noise_line(score: dict[str, Any]) -> str:
    noise = score.get("noise_floor")
    if not noise:
        return ""
    return (f"Noise floor: a second baseline trained on the same rows with another seed scores win rate "
            f"{noise['win_rate']} (95% CI {noise['ci95'][0]}-{noise['ci95'][1]}) and ΔNLL {noise['delta_nll']['mean']} "
            f"(95% CI {noise['delta_nll']['ci95'][0]} to {noise['delta_nll']['ci95'][1]}) against the first. The tie "
            f"margin, {score['tie_margin']} nats per token, is the median per-example |ΔNLL| between the two: an "
            "example counts as won or lost only when a candidate moves it further than reseeding alone does.\n\n")


def _screen_line(score: dict[str, Any]) -> str:
    screen = score.get("evaluation_screen")
    if not screen or score["evaluation"] != "held_out":
        return ""
    removed = ", ".join(f"{reason} {count}" for reason, count in screen["screened_out"].items()) or "none"
    return (f"Held-out references were drawn from the {screen['passed_screen']} of {screen['rows']} input rows "
            f"that passed the reference screen (screened out: {removed}).\n\n")


def _llm_judge_line(judged: dict[str, Any] | None) -> str:
    if not judged:
        return ""
    if judged.get("usable") is False:
        return (f"LLM judge `{judged['model']}`: **unusable**, {judged['unusable_reason']}; its verdicts "
                f"(win rate {judged['win_rate']}) are not reported as a score and never reach the agent.\n\n")
    bias = judged.get("first_shown_preferred")
    return (f"LLM judge `{judged['model']}`: win rate {judged['win_rate']} (95% CI {judged['ci95'][0]}-"
            f"{judged['ci95'][1]}; {judged['wins']} wins, {judged['ties']} ties, {judged['losses']} losses; a tie: the "
            "verdict changed with the order the answers were shown in, or was unreadable)"
            + (f"; it preferred the answer shown first in {bias:.0%} of its answers" if bias is not None else "")
            + ".\n\n")


def _search_section(search: dict[str, Any]) -> str:
    origins = ", ".join(f"{origin} {count}" for origin, count in search["origins"].items())
    text = (f"## Search\n\nMethod {search['method']}: {search['strategies_evaluated']} strategies evaluated in "
            f"{search['iterations_run']} iterations (by origin: {origins}).")
    prior = search.get("profile_prior")
    if prior:
        suggested = ", ".join(f"`{n}`" for n in prior["operators"]) or "none"
        text += (f" Profile-driven prior shown to the agent: {suggested} (operators that would drop or rewrite "
                 f"at least {PRIOR_MIN_SHARE:.0%} of the sample")
        whole = prior.get("measured_on_whole_dataset") or []
        if whole:
            text += (f", or, for {', '.join(f'`{n}`' for n in whole)}, of the whole dataset, since a sample holds "
                     "few of a duplicate's copies")
        text += ("; their whole strategy is a candidate before any score exists, and strategies taken from the "
                 "prior have origin `profile_prior`).")
    selection = search.get("selection")
    return text + (f" {selection_text(selection)}" if selection else "") + "\n\n"


def selection_text(selection: dict[str, Any]) -> str:
    """Why the strategy was published (``autodp.search.loop.choose`` and ``confirmed_choice``), in one sentence."""
    if selection["rule"] == "confirmed_better":
        return (f"Published: not the search's own choice (`{selection['search_choice'][:12]}`), which the "
                "confirmation did not show better than raw, but the confirmed candidate whose interval against raw "
                "lies highest above zero.")
    if selection["rule"] == "best_score":
        text = "Published: the best-scored strategy"
        if selection["tied"] > 1:
            text += (f"; it also removed the most flagged rows of the {selection['tied']} strategies "
                     f"{tied_words(selection)}")
        return text + "."
    flagged = selection["flagged"]
    reason = ("(paired on the same references, the signal cannot tell them apart)" if "tie_rule" in selection else
              "(the farther end of the noise floor's ΔNLL interval: closer than that, reseeding alone could swap them)")
    return (f"Published: of the {selection['tied']} strategies {tied_words(selection, of_best_scored=True)} "
            f"{reason}, the one that removed the most rows target selection flags, net of the unflagged rows it "
            f"dropped ({flagged['flagged_removed']} of {flagged['flagged']} flagged removed, "
            f"{flagged['unflagged_dropped']} unflagged dropped).")


def tied_words(selection: dict[str, Any], of_best_scored: bool = False) -> str:
    """What tied the strategies ``choose`` chose among (its tie rule), in words."""
    if "tie_rule" in selection:
        return (f"whose paired flow difference from {'the best-scored one' if of_best_scored else 'it'} on the "
                "selection references had a 95% interval reaching zero")
    whose = "the best-scored one's" if of_best_scored else "its own"
    return f"whose mean ΔNLL was within {selection['noise_reach']} nats of {whose}"
