"""rows_in = rows_kept + rows_quarantined, and every source row lands in exactly one table."""

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autodp.ingest import ingest
from autodp.store import LocalStore
from tests.ingest.helpers import quarantine, records

text = st.text(max_size=40)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
valid_record = st.fixed_dictionaries(
    {"instruction": text, "output": text},
    optional={"input": text | st.none(), "extra": json_scalar},
).map(json.dumps)
odd_record = st.dictionaries(st.sampled_from(["instruction", "input", "output", "other"]), json_scalar).map(json.dumps)
any_json = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=5).map(json.dumps)
truncated = valid_record.flatmap(lambda line: st.integers(1, max(1, len(line) - 1)).map(lambda n: line[:n]))
junk_bytes = st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\n", b" ").replace(b"\r", b" "))
line = st.one_of(valid_record, valid_record, odd_record, any_json, truncated, junk_bytes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=valid_record, rest=st.lists(line, max_size=30))
def test_every_row_is_kept_or_quarantined(first, rest):
    lines = [first, *rest]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "data.jsonl"
        encoded = [item.encode() if isinstance(item, str) else item for item in lines]
        source.write_bytes(b"\n".join(encoded) + b"\n")
        expected_rows = [n for n, item in enumerate(encoded, start=1) if item.strip()]
        store = LocalStore(Path(tmp) / "store")
        summary = ingest(str(source), store, layout="alpaca")

        assert summary["rows_in"] == len(expected_rows)
        assert summary["rows_in"] == summary["rows_kept"] + summary["rows_quarantined"]
        assert sum(summary["quarantine_reasons"].values()) == summary["rows_quarantined"]
        kept = [r["source_row"] for r in records(store, summary["dataset_key"])]
        bad = [r["source_row"] for r in quarantine(store, summary["dataset_key"])]
        assert len(kept) == summary["rows_kept"] and len(bad) == summary["rows_quarantined"]
        assert sorted(kept + bad) == expected_rows
