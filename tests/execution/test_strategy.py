"""Strategies as data: validation with clear errors, one canonical form, one key."""

import jsonschema
import pytest

from autodp import operators
from autodp.execution.strategy import Strategy, StrategyError, strategy_schema


def test_spellings_of_one_strategy_share_canonical_form_and_key():
    long = Strategy.from_data({"steps": [
        {"operator": "normalize_text", "params": {}},
        {"operator": "exact_dedup", "params": {"key": "record", "ignore_case": True}},
    ]})
    short = Strategy.from_data(["normalize_text", {"exact_dedup": None}])
    assert long.canonical() == short.canonical()
    assert long.key() == short.key()
    assert long.canonical()["steps"][1] == {"operator": "exact_dedup", "params": {"key": "record", "ignore_case": True}}
    assert Strategy.from_data([{"exact_dedup": {"key": "prompt"}}]).key() != short.key()


@pytest.mark.parametrize("data, message", [
    (["drop_emtpy_output"], "step 1: unknown operator 'drop_emtpy_output' (did you mean 'drop_empty_output'?)"),
    ([{"length_bounds": {"min_output_chars": -1}}], "step 1 (length_bounds): min_output_chars: Input should be greater than or equal to 0"),
    ([{"length_bounds": {"min_output_char": 5}}], "step 1 (length_bounds): min_output_char: Extra inputs are not permitted"),
    ([{"length_bounds": {"min_output_chars": 50, "max_output_chars": 10}}], "min_output_chars is above max_output_chars"),
    (["normalize_text", {"exact_dedup": {"key": "output"}}], "step 2 (exact_dedup): key: Input should be 'record' or 'prompt'"),
    ({"stages": []}, "a strategy is a list of steps"),
    ([{"operator": "exact_dedup", "param": {}}], "step 1: unknown keys ['param']"),
])
def test_invalid_strategies_say_what_is_wrong(data, message):
    with pytest.raises(StrategyError) as raised:
        Strategy.from_data(data)
    assert message in str(raised.value)


def test_schema_is_generated_from_the_registry_and_accepts_canonical_forms():
    schema = strategy_schema()
    names = {v["properties"]["operator"]["const"] for v in schema["properties"]["steps"]["items"]["oneOf"]}
    assert names == set(operators.registry())
    canonical = Strategy.from_data(["normalize_text", {"length_bounds": {"max_output_chars": 100}}]).canonical()
    jsonschema.validate(canonical, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"steps": [{"operator": "length_bounds", "params": {"max_output_chars": -5}}]}, schema)


def test_from_yaml_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - operator: drop_empty_output\n  - exact_dedup: {key: prompt}\n")
    assert [s.name for s in Strategy.from_file(path).steps] == ["drop_empty_output", "exact_dedup"]
    path.write_text("steps: [unknown_op]\n")
    with pytest.raises(StrategyError, match=f"{path}: step 1: unknown operator"):
        Strategy.from_file(path)


def test_every_operator_declares_what_the_catalogue_needs():
    for entry in operators.catalogue():
        assert entry["stage"] in ("cleaning", "selection", "refinement", "generation")
        assert entry["description"], entry["name"]
        assert entry["parameters"]["type"] == "object"
