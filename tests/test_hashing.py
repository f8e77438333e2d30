"""record_id is one function computed two ways: Python at ingest, DuckDB in operators."""

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from autodp.hashing import content_key, record_id, record_id_sql

texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30) | st.sampled_from(
    ["  padded\r\n", "\u00a0nbsp\u00a0", "e\u0301", "\u00e9", "tab\tin\vside\f", "\r\r\n", ""])


@settings(max_examples=300, deadline=None)
@given(texts, texts, texts)
def test_sql_and_python_agree(instruction, input_, output):
    with duckdb.connect() as con:
        sql = con.execute(f"select {record_id_sql('$1', '$2', '$3')}", [instruction, input_, output]).fetchone()[0]
    assert sql == record_id(instruction, input_, output)


def test_normalization_makes_equal_content_equal():
    assert record_id("e\u0301", "", " x\r\n") == record_id("\u00e9", "", "x")
    assert record_id("a", "b", "c") != record_id("a", "", "bc")


def test_content_key_ignores_dict_order():
    assert content_key("s", "1", {"a": 1, "b": [1, 2]}) == content_key("s", "1", {"b": [1, 2], "a": 1})
    assert content_key("s", "1", {"a": 1}) != content_key("s", "2", {"a": 1})
