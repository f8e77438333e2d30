"""The ingest contract: every row kept or quarantined with its line, field and reason."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autodp.hashing import record_id
from autodp.ingest import IngestError, ingest
from tests.conftest import record, write_lines
from tests.ingest.helpers import quarantine, records


def defects_file(path):
    return write_lines(path, [
        record("Name a primary color.", output="Red."),                # 1 kept
        '{"instruction": "Summarize", "input": "", "outp',            # 2 truncated
        "[1, 2, 3]",                                                    # 3 not an object
        json.dumps({"instruction": "No answer here", "input": ""}),    # 4 missing output
        json.dumps({"instruction": "Add 2+2", "output": 4}),           # 5 number as text
        b'{"instruction": "caf\xe9 au lait", "output": "ok"}',         # 6 invalid UTF-8
        "",                                                             # blank: not a row
        record("Name a planet.", output="Mars."),                      # 8 kept
    ])


def test_defects_are_quarantined_exactly(store, tmp_path):
    summary = ingest(str(defects_file(tmp_path / "defects.jsonl")), store)
    assert summary["rows_in"] == 7
    assert summary["rows_kept"] == 2
    assert summary["rows_quarantined"] == 5
    assert summary["quarantine_reasons"] == {
        "invalid_utf8": 1, "malformed_json": 1, "missing_field": 1, "not_an_object": 1, "wrong_type": 1,
    }
    bad = quarantine(store, summary["dataset_key"])
    assert [(r["source_row"], r["reason"], r["field"]) for r in bad] == [
        (2, "malformed_json", None),
        (3, "not_an_object", None),
        (4, "missing_field", "output"),
        (5, "wrong_type", "output"),
        (6, "invalid_utf8", "instruction"),
    ]
    assert bad[1]["detail"] == "a JSON array, not an object"
    assert bad[3]["detail"] == "field 'output' holds a number, expected text"
    assert bad[4]["raw"] == b'{"instruction": "caf\xe9 au lait", "output": "ok"}'
    kept = records(store, summary["dataset_key"])
    assert [(r["source_row"], r["instruction"], r["output"]) for r in kept] == [
        (1, "Name a primary color.", "Red."), (8, "Name a planet.", "Mars."),
    ]


def test_same_source_same_options_is_stored_once(local_store, tmp_path):
    source = str(defects_file(tmp_path / "d.jsonl"))
    first = ingest(source, local_store)
    files_before = local_store.list("")
    second = ingest(source, local_store)
    assert (first["cached"], second["cached"]) == (False, True)
    assert first["dataset_key"] == second["dataset_key"]
    assert local_store.list("") == files_before
    other = ingest(source, local_store, max_record_bytes=10)
    assert other["dataset_key"] != first["dataset_key"]
    assert other["quarantine_reasons"]["too_large"] == 6


def test_record_id_is_content_hash_of_normalized_text(local_store, tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [
        record("Say hi", output="Hi!"),
        record("  Say hi\r\n", output="Hi!  "),
        record("Say hi", output="Hello!"),
    ])
    ids = [r["record_id"] for r in records(local_store, ingest(str(source), local_store)["dataset_key"])]
    assert ids[0] == ids[1] == record_id("Say hi", "", "Hi!")
    assert ids[2] != ids[0]


def test_metadata_columns_are_kept(local_store, tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [record(topic="greeting", score=0.5, tags=["a"])])
    kept = records(local_store, ingest(str(source), local_store)["dataset_key"])
    assert json.loads(kept[0]["metadata"]) == {"topic": "greeting", "score": 0.5, "tags": ["a"]}


def test_null_input_is_empty_and_null_output_is_missing(local_store, tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [
        json.dumps({"instruction": "a", "input": None, "output": "b"}),
        json.dumps({"instruction": "a", "input": "", "output": None}),
    ])
    summary = ingest(str(source), local_store)
    assert records(local_store, summary["dataset_key"])[0]["input"] == ""
    bad = quarantine(local_store, summary["dataset_key"])
    assert (bad[0]["reason"], bad[0]["detail"]) == ("missing_field", "required field 'output' is null")


def test_field_mapping_for_question_answer_data(local_store, tmp_path):
    source = write_lines(tmp_path / "qa.jsonl.gz", [])
    with gzip.open(source, "wt") as handle:
        handle.write(json.dumps({"question": "What is gout?", "answer": "", "qid": "1"}) + "\n")
        handle.write(json.dumps({"question": "What is asthma?", "answer": "A lung disease.", "qid": "2"}) + "\n")
        handle.write(json.dumps({"question": "Orphan", "qid": "3"}) + "\n")
    summary = ingest(str(source), local_store, mapping=["instruction=question", "output=answer"])
    assert (summary["layout"], summary["rows_kept"], summary["rows_quarantined"]) == ("mapped", 2, 1)
    kept = records(local_store, summary["dataset_key"])
    assert [(r["instruction"], r["output"]) for r in kept] == [("What is gout?", ""), ("What is asthma?", "A lung disease.")]
    assert json.loads(kept[0]["metadata"]) == {"qid": "1"}
    assert quarantine(local_store, summary["dataset_key"])[0]["field"] == "answer"


def test_json_array(local_store, tmp_path):
    source = tmp_path / "a.json"
    source.write_bytes(
        b'[\n {"instruction": "a", "input": "", "output": "b"},\n 7,\n'
        b' {"instruction": "caf\xe9", "input": "", "output": "b"},\n {"instruction": "c", "output": ["x"]}\n]'
    )
    summary = ingest(str(source), local_store)
    assert summary["format"] == "json"
    bad = quarantine(local_store, summary["dataset_key"])
    assert [(r["source_row"], r["reason"], r["field"]) for r in bad] == [
        (2, "not_an_object", None), (3, "invalid_utf8", "instruction"), (4, "wrong_type", "output"),
    ]
    assert bad[1]["raw"] == b'{"instruction": "caf\xe9", "input": "", "output": "b"}'


def test_parquet_text_that_is_not_utf8_is_quarantined_with_its_bytes(local_store, tmp_path):
    binary = pa.array([b"Say hi", b"caf\xe9 au lait", b"Name a planet."], pa.binary())
    undecodable = pa.Array.from_buffers(pa.string(), len(binary), binary.buffers())  # pyarrow does not check
    source = tmp_path / "d.parquet"
    pq.write_table(pa.table({"instruction": undecodable, "output": ["Hi", "ok", "Mars"]}), source)
    summary = ingest(str(source), local_store)
    assert summary["rows_kept"] == 2 and summary["quarantine_reasons"] == {"invalid_utf8": 1}
    [bad] = quarantine(local_store, summary["dataset_key"])
    assert (bad["source_row"], bad["field"], bad["detail"]) == (2, "instruction",
                                                                "text is not valid UTF-8 in field 'instruction'")
    assert bad["raw"] == b'{"instruction": "caf\xe9 au lait", "output": "ok"}'


def test_csv_reports_physical_lines(local_store, tmp_path):
    source = tmp_path / "d.csv"
    source.write_bytes(
        b'instruction,input,output\n'
        b'"Write a haiku","","Old pond\nfrog jumps in"\n'
        b'too,many,fields,here\n'
        b'Bad,,caf\xe9\n'
        b'Last,,one\n'
    )
    summary = ingest(str(source), local_store)
    kept = records(local_store, summary["dataset_key"])
    assert [(r["source_row"], r["output"]) for r in kept] == [(2, "Old pond\nfrog jumps in"), (6, "one")]
    bad = quarantine(local_store, summary["dataset_key"])
    assert [(r["source_row"], r["reason"], r["field"]) for r in bad] == [
        (4, "wrong_field_count", None), (5, "invalid_utf8", "output"),
    ]


def test_parquet_types_are_checked(local_store, tmp_path):
    source = tmp_path / "d.parquet"
    pq.write_table(pa.table({"prompt": ["a", "b", "c"], "response": ["x", None, "z"], "n": [1, 2, 3]}), source)
    summary = ingest(str(source), local_store, mapping={"instruction": "prompt", "output": "response"})
    assert summary["quarantine_reasons"] == {"missing_field": 1}
    kept = records(local_store, summary["dataset_key"])
    assert [json.loads(r["metadata"]) for r in kept] == [{"n": 1}, {"n": 3}]
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"instruction": ["a"], "output": [3.5]}), wrong)
    assert ingest(str(wrong), local_store)["quarantine_reasons"] == {"wrong_type": 1}


def test_sharegpt_conversations(local_store, tmp_path):
    def convo(*turns, **extra):
        return json.dumps({"conversations": [{"from": f, "value": v} for f, v in turns], **extra})

    source = write_lines(tmp_path / "s.jsonl", [
        convo(("system", "Be brief."), ("human", "Hi"), ("gpt", "Hello"), ("human", "Bye"), ("gpt", "Bye!"), id="c1"),
        convo(("human", "Hi"), ("human", "Anyone?")),
        convo(("human", "Unanswered")),
        json.dumps({"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}),
    ])
    summary = ingest(str(source), local_store)
    assert summary["layout"] == "sharegpt"
    kept = records(local_store, summary["dataset_key"])
    assert [(r["instruction"], r["output"]) for r in kept] == [("Bye", "Bye!"), ("2+2?", "4")]
    assert json.loads(kept[0]["metadata"]) == {"id": "c1", "system": "Be brief.", "history": [["Hi", "Hello"]]}
    bad = quarantine(local_store, summary["dataset_key"])
    assert [(r["source_row"], r["reason"], r["detail"]) for r in bad] == [
        (2, "bad_conversation", "turn 2: expected an assistant turn, got 'human'"),
        (3, "bad_conversation", "the conversation does not end with an assistant turn"),
    ]


def test_self_instruct_seed_tasks(local_store, tmp_path):
    def task(instruction, instances, **extra):
        return json.dumps({"id": "t", "instruction": instruction, "instances": instances, **extra})

    source = write_lines(tmp_path / "seed_tasks.jsonl", [
        task("Suggest a breakfast.", [{"input": "", "output": "Oats."}], is_classification=False),
        task("Classify the sentiment.", [{"input": "Great!", "output": "positive"}, {"input": "Bad.", "output": "neg"}]),
        task("No instances", []),
        task("Broken instance", ["text"]),
        task("Numeric output", [{"input": "", "output": 3}]),
    ])
    summary = ingest(str(source), local_store)
    assert summary["layout"] == "self_instruct" and summary["rows_kept"] == 2 and summary["rows_quarantined"] == 3
    kept = records(local_store, summary["dataset_key"])
    assert [(r["instruction"], r["input"], r["output"]) for r in kept] == [
        ("Suggest a breakfast.", "", "Oats."), ("Classify the sentiment.", "Great!", "positive")]
    assert json.loads(kept[1]["metadata"])["more_instances"] == [{"input": "Bad.", "output": "neg"}]
    assert [(r["source_row"], r["reason"], r["field"]) for r in quarantine(local_store, summary["dataset_key"])] == [
        (3, "wrong_type", "instances"), (4, "wrong_type", "instances"), (5, "wrong_type", "output")]


@pytest.mark.parametrize("content, problem", [
    (None, "no such file"),
    (b"\x1f\x8b\x08\x00garbage", "cannot read"),
    (b'[{"instruction": "a", "output": "b"},\n {"instruction": ', "not valid JSON at line 2 column"),
    (b'{"a": 1}', "expected a JSON array of records"),
    (b"", "cannot tell the format"),
    (b"\x00\x01binary", "cannot tell the format"),
    (b"\n\n", "cannot tell the format"),
])
def test_unreadable_source_writes_nothing(local_store, tmp_path, content, problem):
    source = tmp_path / "bad.json"
    if content is not None:
        source.write_bytes(content)
    file_format = "json" if content == b'{"a": 1}' else "auto"
    with pytest.raises(IngestError, match=problem) as raised:
        ingest(str(source), local_store, file_format=file_format)
    assert str(source) in str(raised.value)
    assert local_store.list("") == []


def test_unknown_layout_names_the_fields(local_store, tmp_path):
    source = write_lines(tmp_path / "d.jsonl", [json.dumps({"question": "q", "answer": "a"})])
    with pytest.raises(IngestError, match=r"first record has fields \[answer, question\]"):
        ingest(str(source), local_store)


@pytest.mark.parametrize("mapping, message", [
    (["instruction=question"], "must name a column for output"),
    (["prompt=question", "output=a"], "'prompt' is not one of"),
    (["instruction"], "expected FIELD=COLUMN"),
])
def test_bad_mapping_is_refused(local_store, tmp_path, mapping, message):
    source = write_lines(tmp_path / "d.jsonl", [record()])
    with pytest.raises(ValueError, match=message):
        ingest(str(source), local_store, mapping=mapping)
