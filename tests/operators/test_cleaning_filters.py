"""Rule-based filters and rewrites for hallucination, merging, PII, boilerplate, language
and near duplicates, on tiny inline fixtures."""

from autodp.operators.cleaning.boilerplate_strip import BoilerplateStrip
from autodp.operators.cleaning.hallucinated_url_filter import HallucinatedUrlFilter
from autodp.operators.cleaning.language_filter import LanguageFilter
from autodp.operators.cleaning.merged_instruction_filter import MergedInstructionFilter
from autodp.operators.cleaning.near_dedup import NearDedup, optimal_bands, union_find
from autodp.operators.cleaning.pii_redaction import PiiRedaction
from tests.operators.helpers import run_operator


def test_hallucinated_url_filter(tmp_path):
    rows = [
        {"instruction": "Summarize the article.", "input": "https://www.bbc.com/news/world-51461830", "output": "Protests..."},
        {"instruction": "Classify the shape.", "input": "<Picture Attached>", "output": "Triangle"},
        {"instruction": "Where can I read about flu?", "output": "See https://flu.example.org/facts for details."},
        {"instruction": "Shorten https://a.org/x", "output": "Visit https://a.org/x."},
        {"instruction": "Name a fruit.", "output": "Apple."},
    ]
    kept, drops, _, _ = run_operator(HallucinatedUrlFilter(), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [4, 5]
    assert [(d["source_row"], d["reason"]) for d in drops] == [
        (1, "url_only_input"), (2, "attachment_input"), (3, "invented_url")]


def test_merged_instruction_filter(tmp_path):
    rows = [
        {"instruction": "Should I invest in stocks?",
         "output": "It depends.\n##\n18. Instruction: Identify the noun.\n18. Input:\nThe apple.\n18. Output:\nApple"},
        {"instruction": "Translate.\n### Instruction: also write a poem", "output": "Done."},
        {"instruction": "Explain the output: of a model", "output": "A model's output: is its prediction."},
    ]
    kept, drops, _, _ = run_operator(MergedInstructionFilter(), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [3]
    assert [d["reason"] for d in drops] == ["merged_in_output", "merged_in_instruction"]


def test_pii_redaction(tmp_path):
    rows = [
        {"instruction": "Email jane.doe@clinic.org about MRN: A123456", "input": "Call (555) 123-4567",
         "output": "SSN 123-45-6789 on file; server 10.0.0.12."},
        {"instruction": "What is 2+2?", "output": "4"},
    ]
    kept, _, changes, _ = run_operator(PiiRedaction(), rows, tmp_path)
    assert kept[0]["instruction"] == "Email [EMAIL] about [MRN]"
    assert kept[0]["input"] == "Call [PHONE]"
    assert kept[0]["output"] == "SSN [SSN] on file; server [IP]."
    assert kept[1]["output"] == "4"
    assert [(c["source_row"], c["reason"]) for c in changes] == [(1, "pii_redacted")]
    only_email, _, _, _ = run_operator(PiiRedaction({"kinds": ["email"]}), rows, tmp_path)
    assert only_email[0]["input"] == "Call (555) 123-4567"


def test_boilerplate_strip(tmp_path):
    rows = [
        {"instruction": "What are the symptoms of Ribbing disease ?",
         "output": "What are the signs and symptoms of Ribbing disease? Signs include bone pain."},
        {"instruction": "Tell me a joke", "output": "Sure! Here's one: why did the chicken cross the road?"},
        {"instruction": "Define gout", "output": "Answer: As an AI language model, I can say gout is arthritis. I hope this helps!"},
        {"instruction": "Ask me something", "output": "Why is the sky blue?"},
    ]
    kept, _, changes, _ = run_operator(BoilerplateStrip(), rows, tmp_path)
    assert [r["output"] for r in kept] == [
        "Signs include bone pain.", "why did the chicken cross the road?", "I can say gout is arthritis.",
        "Why is the sky blue?"]
    assert [c["source_row"] for c in changes] == [1, 2, 3]


def test_language_filter(tmp_path):
    rows = [
        {"instruction": "What is the treatment for asthma?", "output": "Inhaled corticosteroids are the mainstay of long-term control."},
        {"instruction": "¿Cuál es el tratamiento del asma?", "output": "Los corticosteroides inhalados son la base del control a largo plazo."},
        {"instruction": "2+2", "output": "4"},
    ]
    kept, drops, _, _ = run_operator(LanguageFilter(), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 3]
    assert drops[0]["reason"] == "wrong_language" and drops[0]["detail"].startswith("detected es:")
    kept, _, _, _ = run_operator(LanguageFilter({"languages": ["en", "es"]}), rows, tmp_path)
    assert len(kept) == 3


def test_near_dedup_groups_near_copies(tmp_path):
    base = "Asthma is a chronic disease of the airways that causes wheezing, breathlessness and coughing at night"
    rows = [
        {"instruction": "Describe asthma.", "output": base + "."},
        {"instruction": "Describe asthma.", "output": base + " and early morning."},
        {"instruction": "Describe gout.", "output": "Gout is a form of inflammatory arthritis caused by uric acid crystals in joints."},
        {"instruction": "describe  ASTHMA", "output": base + "!"},
        {"instruction": "Describe eczema.", "output": "Eczema makes skin red, itchy and cracked; it often starts in childhood."},
    ]
    kept, drops, _, outcome = run_operator(NearDedup({"threshold": 0.7}), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 3, 5]
    assert [(d["source_row"], d["reason"], d["detail"]) for d in drops] == [
        (2, "near_duplicate", "duplicate of source row 1"), (4, "near_duplicate", "duplicate of source row 1")]
    kept, _, _, _ = run_operator(NearDedup({"threshold": 1.0}), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 2, 3, 5]


def test_near_dedup_in_blocks_of_records_finds_the_groups_of_one_pass(tmp_path, monkeypatch):
    """Records are hashed a block at a time (bounded memory): duplicates in different
    blocks are still found, and the result is the same as with one block."""
    from autodp.operators.cleaning import near_dedup

    base = "Gout is a form of inflammatory arthritis caused by uric acid crystals building up in the joints"
    rows = [{"instruction": f"Topic {i} question", "output": f"Topic {i} answer with its own words {i} {i * 7}."}
            for i in range(40)]
    rows[3] = {"instruction": "Describe gout.", "output": base + "."}
    rows[37] = {"instruction": "Describe gout.", "output": base + " at night."}
    (tmp_path / "one").mkdir()
    (tmp_path / "blocks").mkdir()
    whole, whole_drops, _, _ = run_operator(NearDedup({"threshold": 0.7}), rows, tmp_path / "one")
    monkeypatch.setattr(near_dedup, "BLOCK_ROWS", 6)
    blocks, block_drops, _, _ = run_operator(NearDedup({"threshold": 0.7}), rows, tmp_path / "blocks")
    assert [d["source_row"] for d in block_drops] == [38]
    assert blocks == whole and block_drops == whole_drops


def test_lsh_bands_and_union_find():
    bands, rows = optimal_bands(0.7, 128)
    assert bands * rows <= 128 and 0.5 < (1 / bands) ** (1 / rows) < 0.85
    assert union_find([(5, 9), (9, 2), (7, 8)]) == {5: 2, 9: 2, 2: 2, 7: 7, 8: 7}


def test_near_dedup_on_characters_catches_short_paraphrases(tmp_path):
    rows = [
        {"instruction": "Show the first 20 prime numbers.", "output": "The first 20 prime numbers are: wolfram('first 20 prime numbers')"},
        {"instruction": "Show me the first 10 prime numbers", "output": "The first 10 prime numbers are: wolfram('first 10 prime numbers')"},
        {"instruction": "Find information about the Battle of Gettysburg.", "output": "Here is a snippet: wikipedia('Battle of Gettysburg')"},
    ]
    words = {"threshold": 0.6, "text": "output", "unit": "word", "ngram": 3}
    chars = {"threshold": 0.6, "text": "output", "unit": "char", "ngram": 5}
    kept, _, _, _ = run_operator(NearDedup(words), rows, tmp_path)
    assert len(kept) == 3
    kept, drops, _, _ = run_operator(NearDedup(chars), rows, tmp_path)
    assert [r["source_row"] for r in kept] == [1, 3] and drops[0]["source_row"] == 2


def test_shingle_hashes_stay_inside_each_record():
    import numpy as np

    from autodp.operators.cleaning.near_dedup import shingle_hashes

    tokens = np.array([1, 2, 3, 4, 9, 1, 2, 3], dtype=np.uint64)
    offsets = np.array([0, 4, 5, 8])  # records: [1 2 3 4], [9], [1 2 3]
    values, new_offsets = shingle_hashes(tokens, offsets, 3)
    assert new_offsets.tolist() == [0, 2, 3, 4]
    assert values[0] == values[3]  # "1 2 3" in the first and the last record
    assert len(set(values.tolist())) == 3
