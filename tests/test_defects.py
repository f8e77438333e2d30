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


def test_dose_ladder_rungs_are_nested_the_same_size_and_differ_only_in_dose():
    records = [r for r in CLEAN[:400] if defects.ladder_eligible(r)]
    rungs = defects.dose_ladder(records, defects.LADDER_CLASSES[defects.MIXED], defects.LADDER_DOSES, FOREIGN, seed=5)
    assert sorted(rungs) == list(defects.LADDER_DOSES)
    assert all(len(rung) == len(records) for rung in rungs.values())
    assert all(row["defect"] == defects.CLEAN for row in rungs[0.0])
    for low, high in zip(defects.LADDER_DOSES, defects.LADDER_DOSES[1:]):
        damaged = {i for i, row in enumerate(rungs[low]) if row["defect"] != defects.CLEAN}
        for i in damaged:  # damaged at a lower dose: damaged the same way at every higher one
            assert rungs[high][i] == rungs[low][i]
        share = sum(row["defect"] != defects.CLEAN for row in rungs[high]) / len(records)
        assert abs(share - high) <= 1.5 / len(records)
    top = rungs[defects.LADDER_DOSES[-1]]
    for i, row in enumerate(top):
        if row["defect"] == defects.CLEAN:
            assert row == {**records[i], "defect": defects.CLEAN}
        elif row["defect"] == "exact_duplicate":
            assert any(row["instruction"] == other["instruction"] and row["output"] == other["output"]
                       for j, other in enumerate(top) if j != i and other["defect"] == defects.CLEAN)
        elif row["defect"] == "mismatched_output":  # a swap: its answer is another record's
            assert row["output"] != records[i]["output"] and row["output"] in {r["output"] for r in records}
    assert len({row["defect"] for row in top}) == len(defects.DEFECT_CLASSES) + 1


def test_a_one_class_ladder_plants_only_that_class_and_refuses_what_it_cannot_plant():
    records = [r for r in CLEAN[:200] if defects.ladder_eligible(r)]
    rungs = defects.dose_ladder(records, ("mismatched_output",), (0.0, 0.3), seed=1)
    assert Counter(row["defect"] for row in rungs[0.3]) == {defects.CLEAN: 140, "mismatched_output": 60}
    with pytest.raises(ValueError, match="unknown defect classes"):
        defects.dose_ladder(records, ("typo",), (0.1,))
    with pytest.raises(ValueError, match="not ladder_eligible"):
        defects.dose_ladder(records + [{"instruction": "q", "input": "", "output": "See http://x.org"}],
                            ("empty_output",), (0.1,))
