"""The data card of a published search: what was done to the data and how well it scored,
as JSON for tools and Markdown for people. Aggregates only, never a record."""

from __future__ import annotations

import json
from typing import Any

from autodp import operators
from autodp.search.config import SearchConfig
from autodp.search.state import SearchRun, Trial


def data_card(run: SearchRun, config: SearchConfig, best: Trial, final: dict[str, Any], history: list[Trial],
              seconds: float | None, repairs: int, failures: int) -> dict[str, Any]:
    """``final`` is the executor's summary of the best strategy applied to the full dataset."""
    return {
        "input_dataset_key": run.dataset_key,
        "output_dataset_key": final["output_key"],
        "strategy": best.steps,
        "operator_versions": {s["operator"]: operators.get(s["operator"]).version for s in best.steps},
        "rows": {"in": final["rows_in"], "out": final["rows_out"]},
        "drop_reasons": {s["operator"]: s["dropped"] for s in final["steps"] if s["dropped"]},
        "changes": {s["operator"]: s["changed"] for s in final["steps"] if s["changed"]},
        "score": {"judge": "reference", "win_rate": best.win_rate, "ci95": best.ci95, "score": best.score,
                  "llm_judge": best.llm_judge, "evaluation": run.eval_source,
                  "evaluation_examples": run.eval_examples, "base_model": config.base},
        "baseline_adapter": run.baseline.adapter_key if run.baseline else None,
        "fidelity": run.fidelity,
        "target_selection": run.targets.to_dict() if run.targets else None,
        "search": {"method": config.method, "iterations_run": max(h.iteration for h in history),
                   "strategies_evaluated": len(history),
                   "seconds": round(seconds, 1) if seconds is not None else None,
                   "agent_repairs": repairs, "agent_failures": failures,
                   "accelerations": {"sampling": config.sampling, "target_selection": config.target_selection,
                                     "reuse": config.reuse},
                   "origins": {o: sum(h.origin == o for h in history) for o in sorted({h.origin for h in history})}},
        "llm_calls": {"search": sum(h.llm_calls for h in history),
                      "rows_skipped_by_target_selection": sum(h.llm_rows_skipped for h in history),
                      "publish": final["llm_calls"]},
    }


def markdown(card: dict[str, Any]) -> str:
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


def _llm_judge_line(judged: dict[str, Any] | None) -> str:
    if not judged:
        return ""
    bias = judged.get("first_shown_preferred")
    return (f"LLM judge `{judged['model']}`: win rate {judged['win_rate']} (95% CI {judged['ci95'][0]}-"
            f"{judged['ci95'][1]}; {judged['wins']} wins, {judged['ties']} ties, {judged['losses']} losses; a tie: the "
            "verdict changed with the order the answers were shown in, or was unreadable)"
            + (f"; it preferred the answer shown first in {bias:.0%} of its answers" if bias is not None else "")
            + ".\n\n")
