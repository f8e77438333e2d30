"""The Markdown every data card shares (the strategy's steps, the augmentation models it
ran and its drop reasons), and the whole card of a curated run: the body of the Hugging
Face card its dataset carries, with its validation and drift. Aggregates only, never a record."""

from __future__ import annotations

import json
from typing import Any


def strategy_sections(card: dict[str, Any]) -> str:
    """The Markdown sections every data card has: the strategy's steps and the drop reasons."""
    steps = "\n".join(f"{n}. `{s['operator']}` {json.dumps(s['params'])}" for n, s in enumerate(card["strategy"], 1))
    drops = "\n".join(f"- {op}: " + ", ".join(f"{r} {c}" for r, c in reasons.items())
                      for op, reasons in card["drop_reasons"].items()) or "- none"
    models = "".join(f"- `{op}` ran augmentation model {m['model']!r} (entry `{m['entry']}`; validity "
                     f"{m['scores'].get('validity')}, win rate against its teacher {m['scores'].get('win_rate_vs_teacher')}"
                     f"{'' if m['scores'].get('judge_usable') else ', judge unusable'})\n"
                     for op, m in card.get("augmentation_models", {}).items())
    models = f"## Augmentation models\n\n{models}\n" if models else ""
    return f"## Strategy\n\n{steps}\n\n{models}## Drop reasons\n\n{drops}\n\n"


def breach_line(breach: dict[str, Any]) -> str:
    """One drift breach (``autodp.curate.drift``) as every report says it."""
    low, high = breach["expected"]
    return (f"{breach['aggregate']} against {breach['against']}: expected {low}-{high}, "
            f"observed {round(breach['observed'], 4)}")


def drift_section(drift: dict[str, Any] | None) -> str:
    if not drift:
        return ""
    against = " and ".join(drift["references"]) or "nothing yet (the first run of a recipe without its search's figures)"
    if not drift["breaches"]:
        return f"## Drift\n\nAll {drift['checks']} checks within range against {against} ({drift['policy']} policy).\n"
    lines = "".join(f"- {breach_line(b)}\n" for b in drift["breaches"])
    return (f"## Drift\n\n{len(drift['breaches'])} of {drift['checks']} checks out of range against {against} "
            f"({drift['policy']} policy: published with a warning):\n\n{lines}")


def curated_markdown(card: dict[str, Any]) -> str:
    """The curated run's data card for people (the body of its Hugging Face card)."""
    rows = card["rows"]
    return (f"# Data card: {card['recipe']}\n\nCurated by autodp at {card['curated_at']} with recipe "
            f"`{card['recipe']}` (`{card['recipe_key']}`), approved by {card['approved_by']} via "
            f"{card['approved_via']} at {card['approved_at']}.\n\n- source `{card['source']}`\n"
            f"- rows: {rows['ingested']} ingested, {rows['quarantined']} quarantined, {rows['in']} in, "
            f"{rows['out']} out\n- input dataset `{card['input_dataset_key']}`\n- output dataset "
            f"`{card['output_dataset_key']}`\n\n{strategy_sections(card)}## Validation\n\nPassed all "
            f"{card['validation']['checks']} checks (great-expectations).\n\n{drift_section(card.get('drift'))}")
