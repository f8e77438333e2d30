"""The augmentation templates and the student's plain-text answers."""

import json

import pytest

from autodp.augmentation.templates import (
    TASKS,
    student_answer,
    student_prompt,
    student_target,
    template,
)
from autodp.distill.seeds import balanced_order


def test_each_template_asks_in_json_and_reads_its_answer():
    for task in TASKS:
        chosen = template(task)
        request = chosen.request("Name a planet.", "Mars.", seed=3)
        assert "Name a planet." in request.messages[-1][1] and request.seed == 3
        assert json.loads(request.json_schema)["required"][0] == "instruction"
    assert template("instruction_refinement").parse('{"instruction": "  Name one planet of the solar system. "}') == \
        "Name one planet of the solar system."
    assert template("pair_expansion").parse('{"instruction": "Name a moon.", "response": "Titan."}') == \
        ("Name a moon.", "Titan.")
    assert template("pair_expansion").parse('{"instruction": "Name a moon."}') is None
    assert template("instruction_expansion").parse("not json") is None
    with pytest.raises(ValueError, match="unknown augmentation task 'summarise'"):
        template("summarise")


def test_a_pair_round_trips_through_the_students_layout():
    target = student_target("pair_expansion", ("Name a moon.", "Titan, which orbits Saturn.\nIt is large."))
    assert student_answer("pair_expansion", target) == ("Name a moon.", "Titan, which orbits Saturn.\nIt is large.")
    assert student_prompt("pair_expansion", "Name a planet.", "Mars.") == "Instruction: Name a planet.\nResponse: Mars."
    assert student_prompt("instruction_expansion", "Name a planet.") == "Name a planet."
    assert student_answer("pair_expansion", "Just a sentence.") is None
    assert student_answer("instruction_refinement", "   ") is None


def test_seeds_are_taken_from_each_cluster_in_turn():
    labels = [0] * 6 + [1] * 3 + [2] * 1
    order = balanced_order(labels, seed=0)
    assert sorted(order) == list(range(10))
    assert sorted(labels[i] for i in order[:3]) == [0, 1, 2]
    assert sorted(labels[i] for i in order[3:5]) == [0, 1]
