"""Planted defects: every class at its rate, the ground truth consistent with the rows,
and the detection figures counting as documented."""

from collections import Counter

import pytest

from autodp import defects
from autodp.operators import registry

CLEAN = [{"instruction": f"Question {n} about topic {n % 17}?", "input": "",
          "output": f"Answer {n} explains topic {n % 17} in a full sentence with enough words to cut somewhere "
                    f"in the middle of it, and then it goes on for a while before it ends."}
         for n in range(1000)]
FOREIGN = ["Es gibt im heutigen Deutschen keinen semantischen Unterschied zwischen den drei Formen.",
           "Além do custo ser mais alto, deve-se levar em conta vários fatores."]


def test_inject_plants_every_class_at_its_rate():
    records, truth = defects.inject(CLEAN, FOREIGN, seed=3, size=1000)
    assert len(records) == len(truth) == 1000
    assert [t["row"] for t in truth] == list(range(1, 1001))
    counts = Counter(t["defect"] for t in truth)
    for name, defect in defects.DEFECT_CLASSES.items():
        assert counts[name] == round(defect.rate * 1000), name
    assert counts[defects.CLEAN] == 700
    by_row = {t["row"]: (t, records[t["row"] - 1]) for t in truth}
    for t, record in by_row.values():
        source = CLEAN[t["source"]]
        if t["defect"] == defects.CLEAN:
            assert record == source
        elif t["defect"] == "exact_duplicate":
            assert record == source
            first = min(r for r, (u, other) in by_row.items() if other == record)
            assert first < t["row"]  # the later row of the pair is the duplicate
        elif t["defect"] in ("empty_output", "placeholder_output"):
            assert len(record["output"].strip()) <= 12
        elif t["defect"] == "truncated_output":
            assert source["output"].startswith(record["output"]) and record["output"] != source["output"]
        elif t["defect"] == "other_language":
            assert record["output"] in FOREIGN


def test_inject_is_deterministic_and_refuses_too_few_records():
    assert defects.inject(CLEAN, FOREIGN, seed=1, size=500) == defects.inject(CLEAN, FOREIGN, seed=1, size=500)
    with pytest.raises(ValueError, match="need"):
        defects.inject(CLEAN[:100], FOREIGN, size=1000)


def test_every_class_names_pool_operators():
    for defect in defects.DEFECT_CLASSES.values():
        assert defect.operators and set(defect.operators) <= set(registry())
    assert sum(d.rate for d in defects.DEFECT_CLASSES.values()) == pytest.approx(0.30)


def test_detection_counts_only_clean_rows_as_false_alarms():
    truth = [{"row": 1, "defect": "clean"}, {"row": 2, "defect": "clean"}, {"row": 3, "defect": "empty_output"},
             {"row": 4, "defect": "empty_output"}, {"row": 5, "defect": "planted_pii"}]
    found = defects.detection(truth, touched={1, 3, 5})
    assert found["empty_output"] == {"rows": 2, "found": 1, "recall": 0.5}
    assert found[defects.CLEAN] == {"rows": 2, "touched": 1, "kept_share": 0.5}
    assert defects.scores(1, 2, 1) == {"recall": 0.5, "precision": 0.5, "f1": 0.5}
    assert defects.scores(0, 2, 0)["f1"] == 0.0


def test_foreign_paragraphs_split_and_skip_code():
    text = "Primeiro parágrafo com texto suficiente para contar como um parágrafo de verdade aqui.\n\n```code```\n\nx"
    assert defects.foreign_paragraphs([text, text]) == [text.split("\n\n")[0]]
