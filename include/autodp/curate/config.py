"""What a curate run is asked to do: one configuration, built the same way from the command
line and from the ``autodp_curate`` DAG's Params (``CurateConfig.from_params``), whose
defaults both take from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from autodp.curate.validation import ValidationRules
from autodp.ingest.rows import DEFAULT_MAX_RECORD_BYTES

ExportLayout = Literal["none", "alpaca", "sharegpt"]
RULE_PARAMS = ("max_output_chars", "max_duplicate_rate", "max_row_drift")  # the rules a run may set


@dataclass(frozen=True)
class CurateConfig:
    recipe: str
    source: str  # path or s3:// URL of the new data
    mapping: Mapping[str, str] | list[str] | None = None  # canonical field -> source column, or FIELD=COLUMN
    file_format: str = "auto"
    layout: str = "auto"
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    rules: ValidationRules = field(default_factory=ValidationRules)
    shard_rows: int = 0  # 0: the deployment's AUTODP_SHARD_ROWS
    export_layout: ExportLayout = "none"  # also store the curated dataset as JSONL in this layout

    def __post_init__(self) -> None:
        missing = [name for name in ("recipe", "source") if not getattr(self, name)]
        if missing:
            raise ValueError(f"Param {' and '.join(missing)} is empty: give it in the run's conf, or set "
                             f"AUTODP_CURATE_{missing[0].upper()} for scheduled runs")
        if self.shard_rows < 0:
            raise ValueError(f"shard_rows is {self.shard_rows}; it must be 0 (the deployment's) or more")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CurateConfig:
        """From the names the DAG's Params and the CLI share (the fields' own names and the
        rules'); names that are not curation's (``store``) are ignored, and a name left out
        or None keeps its default."""
        own = {f.name for f in fields(cls)} - {"rules"}
        values = {name: value for name, value in params.items() if name in own and value is not None}
        if not values.get("mapping"):
            values["mapping"] = None
        rules = {name: params[name] for name in RULE_PARAMS if params.get(name) is not None}
        return cls(**values, rules=ValidationRules(**rules))

    def ingest_options(self) -> dict[str, Any]:
        return {"file_format": self.file_format, "layout": self.layout, "mapping": self.mapping,
                "max_record_bytes": self.max_record_bytes}
