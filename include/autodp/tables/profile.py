"""Profile: the aggregate view of a dataset, and the only view the agent ever gets.

Counts, rates, length quantiles and histograms, duplicate rates, language mix and
metadata-field cardinalities. No value from any record appears in a profile.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from autodp.artifacts import DATASETS, PROFILE_FILE, PROFILES, RECORDS_FILE
from autodp.hashing import content_key
from autodp.settings import Settings
from autodp.store import ArtifactStore
from autodp.tables import engine
from autodp.tables.dbt import read_exported, run_dbt_build
from autodp.text import PLACEHOLDER_MAX_CHARS, PLACEHOLDER_TEXTS

PROFILE_VERSION = "2"
LANGUAGE_SAMPLE_ROWS = 2000
LANGUAGE_TEXT_CHARS = 400
PROFILE_TABLES = ["profile_fields", "profile_length_histogram", "profile_duplicates", "profile_metadata_fields"]


def profile_key(dataset_key: str) -> str:
    return content_key("profile", PROFILE_VERSION, {"dataset": dataset_key})


def profile(dataset_key: str, store: ArtifactStore, settings: Settings | None = None) -> dict[str, Any]:
    """Profile a stored dataset (computed once, then read from the store)."""
    key = profile_key(dataset_key)
    if store.has(PROFILES, key):
        return store.read_json(PROFILES, key, PROFILE_FILE)
    dataset = store.manifest(DATASETS, dataset_key)
    records = store.file_location(DATASETS, dataset_key, RECORDS_FILE)
    with tempfile.TemporaryDirectory(prefix="autodp-profile-") as tmp:
        variables = {"records_path": records, "placeholder_texts": list(PLACEHOLDER_TEXTS),
                     "placeholder_max_chars": PLACEHOLDER_MAX_CHARS}
        exported = run_dbt_build(Path(tmp), variables, store, settings)
        tables = read_exported(exported, PROFILE_TABLES)
        report = _assemble(key, dataset_key, dataset["summary"], tables)
        report["languages"] = language_mix(store, records, settings)
        path = Path(tmp) / PROFILE_FILE
        path.write_text(json.dumps(report, indent=2, sort_keys=True))
        store.publish(PROFILES, key, {PROFILE_FILE: path},
                      provenance={"step": "profile", "version": PROFILE_VERSION, "dataset": dataset_key},
                      summary={"rows": report["rows"]})
    return report


def _assemble(key: str, dataset_key: str, ingest_summary: dict[str, Any],
              tables: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    duplicates = tables["profile_duplicates"][0]
    rows = duplicates.pop("rows")
    fields: dict[str, Any] = {}
    for row in tables["profile_fields"]:
        field = row.pop("field")
        row.pop("rows")
        row["empty_rate"] = _rate(row["empty_count"], rows)
        row["placeholder_rate"] = _rate(row["placeholder_count"], rows)
        row["chars_histogram"] = []
        fields[field] = row
    for row in sorted(tables["profile_length_histogram"], key=lambda r: (r["field"], r["chars_from"])):
        fields[row["field"]]["chars_histogram"].append(
            {"chars_from": row["chars_from"], "chars_below": row["chars_below"], "rows": row["rows"]}
        )
    return {
        "profile_key": key,
        "dataset_key": dataset_key,
        "rows": rows,
        "ingest": {name: ingest_summary[name] for name in
                   ("rows_in", "rows_kept", "rows_quarantined", "quarantine_reasons") if name in ingest_summary},
        "fields": fields,
        "duplicates": {**duplicates, **{
            name.replace("duplicate_", "duplicate_rate_"): _rate(count, rows)
            for name, count in duplicates.items()
        }},
        "metadata_fields": {
            row.pop("metadata_field"): row for row in tables["profile_metadata_fields"]
        },
    }


def language_mix(store: ArtifactStore, records: str, settings: Settings | None = None) -> dict[str, Any]:
    """Share of each language over a deterministic sample of records (py3langid)."""
    import py3langid

    with engine.connect(store, settings=settings) as con:
        texts = con.execute(
            "select left(instruction || ' ' || output, ?) from read_parquet(?) "
            "order by hash(record_id, source_row) limit ?",
            [LANGUAGE_TEXT_CHARS, records, LANGUAGE_SAMPLE_ROWS],
        ).fetchall()
    counts = Counter(py3langid.classify(text)[0] if text.strip() else "empty" for (text,) in texts)
    sampled = sum(counts.values())
    top = counts.most_common(10)
    shares = {lang: _rate(n, sampled) for lang, n in top}
    other = sampled - sum(n for _, n in top)
    if other:
        shares["other"] = _rate(other, sampled)
    return {"sample_rows": sampled, "method": "py3langid on instruction+output", "shares": shares}


def _rate(count: int, total: int) -> float:
    return round(count / total, 6) if total else 0.0
