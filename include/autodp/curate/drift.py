"""Drift: does a recipe behave on new data as it did on the data it was approved on?

Every curate run measures the same aggregates of its batch as were measured when the recipe
was found: the share of rows each step of the strategy dropped or rewrote, and, from the
batch's profile, length quantiles, empty and duplicate rates, the language mix, and each
metadata field's presence and, for a categorical field, its count of distinct values (the
distinct values per row of an id-like field depend on the batch's size, so they are not
compared). Each is checked with great-expectations against two references, the search the
recipe came from (its apply on the full data it was found on, and that data's profile) and
the recipe's previous curated run, within the recipe's ``DriftRules``. A check outside its range is a breach, named by the aggregate, the
reference, the expected range and the observed value; the recipe's policy says whether a
breach fails the run or only warns. Aggregates only, never a record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from autodp.artifacts import CURATED, DATA_CARD_FILE, DATASETS
from autodp.exports.cards import breach_line
from autodp.search.published import published_result
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables.profile import profile

Policy = Literal["warn", "fail"]
TEXT_FIELDS = ("instruction", "output")
MIN_LANGUAGE_SHARE = 0.01  # languages below this share in both the batch and the reference are not checked
# A metadata field is categorical, and its count of distinct values compared, when it has at most
# CATEGORICAL_MAX of them and each is on two rows or more on average; an id-like field's count grows
# with the batch, so it is not compared.
CATEGORICAL_MAX = 100
SEARCH, PREVIOUS = "the approved search", "the previous run"


@dataclass(frozen=True)
class DriftRules:
    """How far a batch may move from a reference before it is a breach; set per recipe at approval."""

    policy: Policy = "warn"  # fail: a breach fails the run and publishes nothing; warn: published, and said
    max_step_share_change: float = 0.10  # a step's share of rows dropped or rewritten, absolute
    max_rate_change: float = 0.10  # empty and duplicate rates, absolute
    max_length_change: float = 0.5  # length quantiles (p50, p95), relative to the reference
    max_language_share_change: float = 0.15  # each language's share, absolute
    max_cardinality_change: float = 0.5  # a categorical metadata field's count of distinct values, relative

    def __post_init__(self) -> None:
        if self.policy not in ("warn", "fail"):
            raise ValueError(f"drift policy {self.policy!r} is not warn or fail")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name != "policy" and not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"drift {item.name} is {value!r}; it must be a number of at least 0")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> DriftRules:
        """From a recipe's stored rules or a form's fields (missing or empty ones keep their default)."""
        names = {item.name for item in fields(cls)}
        given = {name: value for name, value in (params or {}).items() if name in names and value not in (None, "")}
        return cls(**{name: value if name == "policy" else float(value) for name, value in given.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DriftFailed(RuntimeError):
    """A batch drifted past its recipe's rules under the fail policy; nothing was published."""

    def __init__(self, report: dict[str, Any]):
        super().__init__(report_text(report))
        self.report = report


def figures(store: ArtifactStore, dataset_key: str, steps: list[dict[str, Any]],
            settings: Settings | None = None) -> dict[str, float]:
    """The aggregates drift compares, by name: each applied step's share of rows dropped or
    rewritten, and the input dataset's profile figures."""
    found = {step_name(n, step["operator"]): share_touched(step) for n, step in enumerate(steps, start=1)}
    report = profile(dataset_key, store, settings)
    for name in TEXT_FIELDS:
        field = report["fields"][name]
        found[f"{name} chars p50"] = float(field["chars_p50"])
        found[f"{name} chars p95"] = float(field["chars_p95"])
        found[f"{name} empty rate"] = float(field["empty_rate"])
    found["duplicate rate"] = float(report["duplicates"]["duplicate_rate_records"])
    for language, share in report["languages"]["shares"].items():
        found[f"language {language} share"] = float(share)
    for name, field in report["metadata_fields"].items():
        if not field.get("rows_present") or not report["rows"]:  # records without metadata: no field
            continue
        found[f"metadata {name} present rate"] = round(field["rows_present"] / report["rows"], 6)
        if field["distinct_values"] <= min(CATEGORICAL_MAX, field["rows_present"] / 2):
            found[f"metadata {name} distinct values"] = float(field["distinct_values"])
    return found


def step_name(number: int, operator: str) -> str:
    return f"step {number} {operator} share"


def share_touched(step: dict[str, Any]) -> float:
    """The share of a step's input rows it dropped or rewrote."""
    touched = sum((step.get("dropped") or {}).values()) + sum((step.get("changed") or {}).values())
    return round(touched / step["rows_in"], 6) if step.get("rows_in") else 0.0


def search_figures(store: ArtifactStore, recipe: dict[str, Any], settings: Settings | None = None
                   ) -> dict[str, float]:
    """The recipe's figures on the data it was found on, from the published search's apply."""
    card = published_result(store, recipe["published_key"])["data_card"]
    return figures(store, card["input_dataset_key"], applied_steps(store, card["output_dataset_key"]), settings)


def applied_steps(store: ArtifactStore, output_key: str) -> list[dict[str, Any]]:
    """Each step's summary of the apply that made ``output_key``, first step first: from a
    sharded merge's summary, or by following each step's dataset to its parent."""
    manifest = store.manifest(DATASETS, output_key)
    if "steps" in manifest["summary"]:
        return manifest["summary"]["steps"]
    steps = []
    while manifest["provenance"].get("step") == "apply":
        steps.append(manifest["summary"])
        manifest = store.manifest(DATASETS, manifest["provenance"]["parent"])
    return steps[::-1]


def previous_figures(store: ArtifactStore, curated_key: str | None) -> dict[str, float] | None:
    """The figures a curated run stored (None before the first run, or for a run made
    before drift was measured)."""
    if curated_key is None:
        return None
    return (store.read_json(CURATED, curated_key, DATA_CARD_FILE).get("drift") or {}).get("figures")


def check(observed: dict[str, float], references: dict[str, dict[str, float] | None],
          rules: DriftRules) -> dict[str, Any]:
    """Every aggregate against every reference, as great-expectations checks on a one-row
    table of the observed figures."""
    import great_expectations as gx
    import pandas as pd

    planned = []
    for against, reference in references.items():
        if reference is None:
            continue
        names = sorted(set(observed) | set(reference))
        for name in names:
            if name.startswith("step ") and name not in reference:
                continue  # a strategy's steps are the same on both sides; nothing to compare
            if name.endswith(" distinct values") and not (name in observed and name in reference):
                continue  # a field categorical on one side only: its present rate says what moved
            expected = _range(name, reference.get(name, 0.0), rules)
            if expected is not None:
                planned.append((name, against, expected))
    # a column per check: great-expectations keeps one of two expectations alike but for their meta
    frame = pd.DataFrame({f"c{i}": [observed.get(name, 0.0)] for i, (name, _, _) in enumerate(planned)})
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (context.data_sources.add_pandas("drift").add_dataframe_asset("figures")
             .add_batch_definition_whole_dataframe("all"))
    suite = context.suites.add(gx.ExpectationSuite("autodp_drift"))
    for i, (name, against, (low, high)) in enumerate(planned):
        suite.add_expectation(gx.expectations.ExpectColumnMeanToBeBetween(
            column=f"c{i}", min_value=low, max_value=high, meta={"aggregate": name, "against": against}))
    checks = []
    if planned:
        definition = context.validation_definitions.add(gx.ValidationDefinition(name="drift", data=batch, suite=suite))
        for result in definition.run(batch_parameters={"dataframe": frame}).results:
            config = result.expectation_config
            checks.append({"aggregate": config.meta["aggregate"], "against": config.meta["against"],
                           "expected": [config.kwargs["min_value"], config.kwargs["max_value"]],
                           "observed": (result.result or {}).get("observed_value"), "success": bool(result.success)})
    checks.sort(key=lambda c: (c["against"], c["aggregate"]))
    breaches = [c for c in checks if not c["success"]]
    return {"policy": rules.policy, "rules": rules.to_dict(), "figures": observed, "checks": checks,
            "breaches": breaches, "references": [a for a, r in references.items() if r is not None],
            "success": not breaches}


def _range(name: str, reference: float, rules: DriftRules) -> tuple[float, float] | None:
    if name.startswith("step "):
        spread = rules.max_step_share_change
    elif name.startswith("language "):
        spread = rules.max_language_share_change
        if reference < MIN_LANGUAGE_SHARE:
            return (0.0, round(max(MIN_LANGUAGE_SHARE, spread), 6))
    elif name.endswith(" distinct values"):
        low, high = reference * (1 - rules.max_cardinality_change), reference * (1 + rules.max_cardinality_change)
        return (round(low, 3), round(high, 3))
    elif name.endswith(" rate"):
        spread = rules.max_rate_change
    elif " chars " in name:
        return (round(reference * (1 - rules.max_length_change), 3), round(reference * (1 + rules.max_length_change), 3))
    else:
        return None
    return (round(max(0.0, reference - spread), 6), round(min(1.0, reference + spread), 6))


def report_text(report: dict[str, Any]) -> str:
    """The breaches, one line each, as the task log and the notification say them."""
    head = (f"drift ({report['policy']} policy) against {' and '.join(report['references']) or 'nothing yet'}: "
            + (f"{len(report['breaches'])} breach(es)" if report["breaches"] else f"all {len(report['checks'])} "
               "checks within range"))
    return "\n".join([head, *(f"  [DRIFT] {breach_line(b)}" for b in report["breaches"])])

