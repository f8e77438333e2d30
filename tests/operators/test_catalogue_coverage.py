"""Every operator in the registry is exercised by a test in this folder."""

from pathlib import Path

from autodp import operators


def test_every_operator_has_a_test():
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name)
    untested = [name for name, op in operators.registry().items() if op.__name__ not in tests]
    assert untested == []


def test_there_are_operators_for_every_stage():
    stages = {op.stage for op in operators.registry().values()}
    assert stages == {"cleaning", "selection", "refinement", "generation"}
    assert len(operators.registry()) >= 20
