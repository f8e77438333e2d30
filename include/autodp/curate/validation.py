"""Validation of a curated dataset with great-expectations (ephemeral context, no project
folder): schema, non-empty fields, output length bounds, duplicate rate, and row-count
drift against the previous curated run. The report names each check, what was expected
and what was observed; aggregates only, never a record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine

COLUMNS = ["record_id", "instruction", "input", "output", "metadata", "source_row"]


class ValidationFailed(RuntimeError):
    """The curated output failed validation; nothing was published."""

    def __init__(self, report: dict[str, Any]):
        super().__init__(report_text(report))
        self.report = report


@dataclass(frozen=True)
class ValidationRules:
    min_rows: int = 1
    min_output_chars: int = 1
    max_output_chars: int = 20_000
    max_duplicate_rate: float = 0.05
    max_row_drift: float = 0.5  # relative change of the row count against the previous run


def validate(store: ArtifactStore, dataset_key: str, rules: ValidationRules | None = None,
             previous_rows: int | None = None, settings: Settings | None = None) -> dict[str, Any]:
    import great_expectations as gx

    rules = rules or ValidationRules()
    with engine.connect(store, settings=settings) as con:
        frame = con.execute("select * from read_parquet(?)",
                            [store.file_location(DATASETS, dataset_key, RECORDS_FILE)]).df()
    expectations = [
        gx.expectations.ExpectTableColumnsToMatchSet(column_set=COLUMNS, exact_match=True),
        gx.expectations.ExpectTableRowCountToBeBetween(min_value=rules.min_rows),
        *[gx.expectations.ExpectColumnValuesToNotBeNull(column=c) for c in ("instruction", "output")],
        *[gx.expectations.ExpectColumnValuesToNotMatchRegex(column=c, regex=r"^\s*$") for c in ("instruction", "output")],
        gx.expectations.ExpectColumnValueLengthsToBeBetween(column="output", min_value=rules.min_output_chars,
                                                            max_value=rules.max_output_chars),
        gx.expectations.ExpectColumnProportionOfUniqueValuesToBeBetween(column="record_id",
                                                                        min_value=1 - rules.max_duplicate_rate),
    ]
    if previous_rows:
        expectations.append(gx.expectations.ExpectTableRowCountToBeBetween(
            min_value=int(previous_rows * (1 - rules.max_row_drift)),
            max_value=int(previous_rows * (1 + rules.max_row_drift)) + 1))
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch = (context.data_sources.add_pandas("curated").add_dataframe_asset("records")
             .add_batch_definition_whole_dataframe("all"))
    suite = context.suites.add(gx.ExpectationSuite("autodp_curated"))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="curated", data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame})
    checks = [_check(r) for r in result.results]
    return {"success": bool(result.success), "dataset_key": dataset_key, "rows": len(frame),
            "previous_rows": previous_rows, "rules": asdict(rules), "checks": checks,
            "failed": [c["check"] for c in checks if not c["success"]]}


def report_text(report: dict[str, Any]) -> str:
    lines = [f"validation of {report['dataset_key']} ({report['rows']} rows): "
             + ("passed" if report["success"] else f"FAILED {len(report['failed'])} check(s)")]
    for check in report["checks"]:
        observed = {k: v for k, v in check["observed"].items() if v is not None}
        lines.append(f"  [{'ok' if check['success'] else 'FAIL'}] {check['check']} {check['column'] or ''} "
                     f"expected {check['expected']}; observed {observed}")
    return "\n".join(lines)


def _check(result) -> dict[str, Any]:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    observed = result.result or {}
    return {"check": config.type, "column": config.kwargs.get("column"), "success": bool(result.success),
            "expected": kwargs,
            "observed": {"value": observed.get("observed_value"), "unexpected_count": observed.get("unexpected_count"),
                         "unexpected_percent": observed.get("unexpected_percent")}}
