"""Rule-based cleaning operators on tiny inline fixtures: exact drops, reasons and rewrites."""

from autodp.hashing import record_id
from autodp.operators.cleaning.drop_empty_output import DropEmptyOutput
from autodp.operators.cleaning.exact_dedup import ExactDedup
from autodp.operators.cleaning.length_bounds import LengthBounds
from autodp.operators.cleaning.normalize_text import NormalizeText
from tests.operators.helpers import run_operator


def test_drop_empty_output(tmp_path):
    rows = [
        {"instruction": "Q1", "output": "A real answer."},
        {"instruction": "Q2", "output": "   "},
        {"instruction": "Q3", "output": "<nooutput>"},
        {"instruction": "Q4", "output": "N/A"},
        {"instruction": "", "output": "Orphan answer"},
        {"instruction": "Q6", "output": "None of the above is right: it is B."},
    ]
    kept, drops, _, outcome = run_operator(DropEmptyOutput(), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 6]
    assert [(d["source_row"], d["reason"]) for d in drops] == [
        (2, "empty_output"), (3, "placeholder_output"), (4, "placeholder_output"), (5, "empty_instruction")]
    assert outcome.rows_in == outcome.rows_out + sum(outcome.dropped.values())

    kept, _, _, _ = run_operator(DropEmptyOutput({"drop_placeholders": False, "drop_empty_instruction": False}),
                                 rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 3, 4, 5, 6]


def test_length_bounds(tmp_path):
    rows = [
        {"instruction": "Hi", "output": "ok"},
        {"instruction": "Explain gout.", "output": "x" * 50},
        {"instruction": "Explain gout.", "output": ""},
        {"instruction": "Explain gout.", "output": "fine"},
    ]
    params = {"min_instruction_chars": 3, "max_output_chars": 40, "min_output_chars": 1}
    kept, drops, _, _ = run_operator(LengthBounds(params), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [4]
    assert [d["reason"] for d in drops] == ["instruction_too_short", "output_too_long", "output_too_short"]


def test_exact_dedup_keeps_the_first(tmp_path):
    rows = [
        {"instruction": "What is gout?", "output": "Arthritis."},
        {"instruction": "what is  GOUT? ", "output": "Arthritis."},
        {"instruction": "What is gout?", "output": "A kind of arthritis."},
        {"instruction": "What is asthma?", "output": "A lung disease."},
    ]
    kept, drops, _, _ = run_operator(ExactDedup(), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 3, 4]
    assert [(d["source_row"], d["reason"], d["detail"]) for d in drops] == [
        (2, "exact_duplicate", "duplicate of source row 1")]
    kept, _, _, _ = run_operator(ExactDedup({"key": "prompt"}), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 4]


def test_normalize_text_rewrites_and_keeps_lineage(tmp_path):
    rows = [
        {"instruction": "Say\x07 hi  there\\nplease ", "input": "<No Input>", "output": "Hi!"},
        {"instruction": "Already clean", "input": "", "output": "Yes."},
        {"instruction": "Keep input", "input": "None of these", "output": "Ok."},
    ]
    kept, drops, changes, outcome = run_operator(NormalizeText(), rows, tmp_path)
    assert drops == []
    assert (kept[0]["instruction"], kept[0]["input"]) == ("Say hi there\nplease", "")
    assert kept[0]["record_id"] == record_id("Say hi there\nplease", "", "Hi!")
    assert kept[1]["record_id"] == record_id("Already clean", "", "Yes.")
    assert kept[2]["input"] == "None of these"
    assert [(c["source_row"], c["previous_record_id"], c["record_id"]) for c in changes] == [
        (1, record_id("Say\x07 hi  there\\nplease ", "<No Input>", "Hi!"), kept[0]["record_id"])]
    assert outcome.changed == {"normalize_text": 1}


def test_truncation_filter_drops_cut_off_responses_and_keeps_lists(tmp_path):
    from autodp.operators.cleaning.truncation_filter import TruncationFilter

    rows = [
        {"instruction": "What is gout?", "output": "Gout is a form of arthritis caused by the buildup of"},
        {"instruction": "What is asthma?", "output": "Asthma narrows the airways. It"},
        {"instruction": "Who treats it?", "output": "Doctors (usually rheumatologists"},
        {"instruction": "List symptoms.", "output": "Symptoms include:  - joint pain  - swelling  - redness"},
        {"instruction": "Who wrote this?", "output": "This page comes from NIH: National Institute on Aging"},
        {"instruction": "What is flu?", "output": "Flu is a contagious respiratory illness."},
        {"instruction": "Source?", "output": "Read https://www.cdc.gov/flu/about/index.html"},
        {"instruction": "Why?", "output": "because the kidneys remove less uric acid than the body makes when"},
    ]
    kept, drops, _, outcome = run_operator(TruncationFilter(), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [4, 5, 6, 7]
    assert [(d["source_row"], d["reason"], d["detail"]) for d in drops] == [
        (1, "truncated_output", "dangling_word"), (2, "truncated_output", "dangling_word"),
        (3, "truncated_output", "unclosed_bracket"), (8, "truncated_output", "dangling_word")]
    assert outcome.rows_in == outcome.rows_out + sum(outcome.dropped.values())


def test_truncation_reasons():
    from autodp.operators.cleaning.truncation_filter import truncation_reason

    assert truncation_reason("Talk to a teacher, your doctor,", 4) == "trailing_punctuation"
    assert truncation_reason("The disease is rare. The affected genes", 4) == "sentence_just_begun"
    assert truncation_reason("it damages the small blood vessels in the kidneys over many years", 4) == \
        "unfinished_sentence"
    assert truncation_reason("Pain during bowel movements Deep Ache In The Tailbone Region", 4) is None
    assert truncation_reason("The mean age was 55.2", 4) is None
    assert truncation_reason("", 4) is None
