"""The curated run's data card as people read it: its validation and its drift."""

from autodp.exports.cards import curated_markdown

CARD = {"recipe": "gout", "recipe_key": "r1", "approved_by": "ana", "approved_via": "review app",
        "approved_at": "2026-12-01T09:00:00+00:00", "curated_at": "2026-12-06T09:00:00+00:00",
        "source": "batch.jsonl", "input_dataset_key": "in1", "output_dataset_key": "out1",
        "rows": {"ingested": 10, "quarantined": 1, "in": 9, "out": 7},
        "strategy": [{"operator": "drop_empty_output", "params": {}}],
        "drop_reasons": {"drop_empty_output": {"empty_output": 2}}, "validation": {"success": True, "checks": 9}}


def test_the_curated_card_says_which_drift_checks_were_out_of_range():
    breach = {"aggregate": "drop_empty_output share", "against": "search", "expected": [0.0, 0.1],
              "observed": 0.22222}
    warned = curated_markdown({**CARD, "drift": {"policy": "warn", "checks": 12, "breaches": [breach],
                                                 "references": ["search", "previous"]}})
    assert "Passed all 9 checks (great-expectations)." in warned
    assert ("## Drift\n\n1 of 12 checks out of range against search and previous (warn policy: published with a "
            "warning):\n\n- drop_empty_output share against search: expected 0.0-0.1, observed 0.2222\n") in warned
    calm = curated_markdown({**CARD, "drift": {"policy": "fail", "checks": 12, "breaches": [], "references": ["search"]}})
    assert "## Drift\n\nAll 12 checks within range against search (fail policy).\n" in calm
    assert "## Drift" not in curated_markdown(CARD)  # a card written before drift was checked
