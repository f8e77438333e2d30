"""Operators that read records through a model: embeddings (MiniLM), the base model's
likelihoods (llama.cpp), and the data LLM (the real local server). A 135M model is a weak
rater, so these tests check what must hold whatever it answers: every row is accounted
for, lineage is kept, thresholds behave, and untrusted endpoints are refused."""

import json

import pytest

from autodp.hashing import record_id
from autodp.llm.endpoints import Endpoint, UntrustedEndpoint
from autodp.operators.cleaning.semantic_dedup import SemanticDedup
from autodp.operators.generation.fill_missing_response import FillMissingResponse
from autodp.operators.generation.instruction_expansion import InstructionExpansion
from autodp.operators.generation.pair_expansion import PairExpansion
from autodp.operators.refinement.instruction_refinement import InstructionRefinement
from autodp.operators.refinement.rewrite_instruction import RewriteInstruction
from autodp.operators.refinement.rewrite_response import RewriteResponse
from autodp.operators.resources import Resources
from autodp.operators.selection.confidence_filter import ConfidenceFilter
from autodp.operators.selection.difficulty_selection import DifficultySelection
from autodp.operators.selection.diversity_selection import DiversitySelection
from autodp.operators.selection.quality_score_filter import QualityScoreFilter
from autodp.operators.selection.relevance_filter import RelevanceFilter
from tests.operators.helpers import run_operator

QA = [
    {"instruction": "What is asthma?", "output": "Asthma is a chronic disease that inflames and narrows the airways."},
    {"instruction": "What causes gout?", "output": "Gout is caused by uric acid crystals building up in a joint."},
    {"instruction": "How is the flu spread?", "output": "The stock market closed higher on Friday."},
]


def accounted(outcome):
    return outcome.rows_in - sum(outcome.dropped.values()) + outcome.added == outcome.rows_out


def test_relevance_filter_drops_the_unrelated_answer(tmp_path, resources):
    kept, drops, _, outcome = run_operator(RelevanceFilter({"min_similarity": 0.25}), QA, tmp_path, resources)
    assert [r["source_row"] for r in kept] == [1, 2]
    assert drops[0]["reason"] == "irrelevant_response" and drops[0]["source_row"] == 3
    assert accounted(outcome)


def test_semantic_dedup_groups_paraphrases(tmp_path, resources):
    rows = [
        {"instruction": "What are the symptoms of asthma?", "output": "a"},
        {"instruction": "What are the signs and symptoms of asthma?", "output": "b"},
        {"instruction": "How do I bake sourdough bread?", "output": "c"},
    ]
    kept, drops, _, _ = run_operator(SemanticDedup({"threshold": 0.9}), rows, tmp_path, resources)
    assert [r["source_row"] for r in kept] == [1, 3]
    assert (drops[0]["source_row"], drops[0]["reason"]) == (2, "semantic_duplicate")


def test_diversity_selection_covers_both_topics(tmp_path, resources):
    rows = [{"instruction": f"What is a symptom of asthma number {i}?", "output": "x"} for i in range(3)]
    rows += [{"instruction": f"Which stock exchange lists company {i}?", "output": "y"} for i in range(3)]
    for method in ("k_center", "cluster_balanced"):
        params = {"keep_fraction": 2 / 6, "method": method, "clusters": 2}
        kept, drops, _, _ = run_operator(DiversitySelection(params), rows, tmp_path, resources)
        assert len(kept) == 2 and len(drops) == 4
        assert {r["source_row"] <= 3 for r in kept} == {True, False}


def test_difficulty_selection_scores_with_the_base_model(tmp_path, resources):
    rows = QA + [{"instruction": "Repeat: the cat sat on the mat.", "output": "The cat sat on the mat."}]
    kept, drops, _, outcome = run_operator(DifficultySelection({"keep_fraction": 0.5, "drop_ifd_above_one": False}),
                                           rows, tmp_path, resources)
    assert len(kept) == 2 and {d["reason"] for d in drops} == {"too_easy"}
    assert all(d["detail"].startswith("ifd ") for d in drops)
    assert accounted(outcome)


def test_quality_score_filter_by_classifier_scores(tmp_path, resources):
    resources.quality_scores = {1: 0.9, 2: 0.2, 3: 0.55}
    kept, drops, _, _ = run_operator(QualityScoreFilter({"scorer": "classifier", "threshold": 5}), QA, tmp_path, resources)
    assert [r["source_row"] for r in kept] == [1, 3]
    assert (drops[0]["source_row"], drops[0]["detail"]) == (2, "score 2.0")
    kept, _, _, _ = run_operator(QualityScoreFilter({"scorer": "classifier", "mode": "top_fraction", "keep_fraction": 0.34}),
                                 QA, tmp_path, resources)
    assert [r["source_row"] for r in kept] == [1]


def test_quality_score_filter_by_llm_rater(tmp_path, resources):
    _, drops, _, outcome = run_operator(QualityScoreFilter({"threshold": 0}), QA, tmp_path, resources)
    assert drops == [] and accounted(outcome)
    assert resources.llm.usage.calls == 3
    _, drops, _, _ = run_operator(QualityScoreFilter({"threshold": 10}), QA, tmp_path, resources)
    assert all(d["reason"] == "low_quality_score" and 1 <= float(d["detail"].split()[1]) < 10 for d in drops)
    assert resources.llm.usage.cached == 3  # the same ratings, answered from the cache


def test_confidence_filter_mixes_consistency_and_reflection(tmp_path, resources):
    kept, drops, _, _ = run_operator(ConfidenceFilter({"threshold": 0.0, "samples": 1}), QA, tmp_path, resources)
    assert len(kept) == 3
    _, drops, _, outcome = run_operator(ConfidenceFilter({"threshold": 1.0, "samples": 1}), QA, tmp_path, resources)
    confidences = [float(d["detail"].split()[1]) for d in drops]
    assert all(0.0 <= c < 1.0 for c in confidences) and accounted(outcome)


def test_only_flagged_rows_reach_the_llm(tmp_path, resources):
    resources.targets = frozenset({2})
    _, _, _, outcome = run_operator(QualityScoreFilter({"threshold": 0}), QA, tmp_path, resources)
    assert resources.llm.usage.calls == 1 and accounted(outcome)


def test_rewrites_keep_lineage(tmp_path, resources):
    for operator, field in ((RewriteResponse(), "output"), (RewriteInstruction({"max_words": 0}), "instruction"),
                            (InstructionRefinement(), "instruction")):
        kept, drops, changes, outcome = run_operator(operator, QA, tmp_path, resources)
        assert drops == [] and outcome.rows_out == 3
        by_row = {r["source_row"]: r for r in kept}
        for change in changes:
            row = by_row[change["source_row"]]
            original = QA[change["source_row"] - 1]
            assert row[field] != original[field]
            assert change["previous_record_id"] == record_id(original["instruction"], "", original["output"])
            assert change["record_id"] == row["record_id"] == record_id(row["instruction"], "", row["output"])
        unchanged = set(by_row) - {c["source_row"] for c in changes}
        assert all(by_row[n][field] == QA[n - 1][field] for n in unchanged)


def test_instruction_refinement_keeps_only_what_the_judge_prefers_in_both_orders(tmp_path, resources):
    from autodp.augmentation.templates import made_by_template
    from autodp.llm import conversations

    kept, drops, changes, outcome = run_operator(InstructionRefinement(), QA, tmp_path, resources)
    assert drops == [] and accounted(outcome)
    refined = made_by_template(resources.llm, "instruction_refinement",  # cached: the operator's own answers
                               [(q["instruction"], "") for q in QA], 0)
    judged = [(q["output"], q["instruction"], r) for q, r in zip(QA, refined) if r and r != q["instruction"]]
    preferred = {q[2] for q, won in zip(judged, conversations.prefers_candidate(resources.llm, judged, "instruction"))
                 if won}
    assert {r["instruction"] for r in kept if r["source_row"] in {c["source_row"] for c in changes}} == preferred
    assert {c["reason"] for c in changes} <= {"instruction_refined"}


def test_fill_missing_response(tmp_path, resources):
    rows = [{"instruction": "What is gout?", "output": ""}, {"instruction": "Define asthma.", "output": "<nooutput>"},
            QA[0]]
    kept, _, changes, _ = run_operator(FillMissingResponse({"max_tokens": 48}), rows, tmp_path, resources)
    assert [c["source_row"] for c in changes] == [1, 2]
    assert kept[0]["output"].strip() and kept[1]["output"] != "<nooutput>"
    assert kept[2]["output"] == QA[0]["output"]


@pytest.mark.parametrize("operator", [InstructionExpansion({"new_fraction": 1.0, "max_new": 3, "max_tokens": 48}),
                                      PairExpansion({"new_fraction": 1.0, "max_new": 3, "seed": 4})])
def test_generators_add_records_with_parents(tmp_path, resources, operator):
    kept, drops, changes, outcome = run_operator(operator, QA, tmp_path, resources)
    assert drops == [] and 1 <= outcome.added <= 3 and accounted(outcome)
    new = [r for r in kept if r["source_row"] > 3]
    assert len(new) == outcome.added
    for row in new:
        meta = json.loads(row["metadata"])
        assert meta["generated_by"] == operator.name and meta["parent_row"] in (1, 2, 3)
        assert row["instruction"].strip() and row["output"].strip()
        assert row["instruction"] != QA[meta["parent_row"] - 1]["instruction"]  # a copy of its seed is not new
    assert {c["reason"] for c in changes} == {"generated"}


def test_untrusted_endpoint_is_refused(tmp_path):
    resources = Resources(_llm=None)
    from autodp.llm.client import LLMClient

    resources._llm = LLMClient(Endpoint("data", "https://api.example.com/v1", "gpt", trusted=False))
    with pytest.raises(UntrustedEndpoint, match="not trusted"):
        run_operator(QualityScoreFilter(), QA, tmp_path, resources)


def test_mismatched_answer_filter_drops_swapped_answers(tmp_path, resources):
    from autodp.operators.cleaning.mismatched_answer_filter import MismatchedAnswerFilter

    pairs = [
        ("What is asthma?", "Asthma is a chronic disease that inflames and narrows the airways of the lungs."),
        ("What causes gout?", "Gout is caused by uric acid crystals building up in a joint."),
        ("How is the flu spread?", "Flu viruses spread in droplets when people with flu cough, sneeze or talk."),
        ("What is glaucoma?", "Glaucoma is a group of eye diseases that damage the optic nerve."),
        ("How do I treat a sunburn?", "Cool the skin, drink water and use aloe vera or a moisturiser."),
        ("What is anemia?", "Anemia means the blood lacks healthy red blood cells to carry oxygen."),
        ("What are kidney stones?", "Kidney stones are hard deposits of minerals and salts formed in the kidneys."),
        ("What is a migraine?", "A migraine is a headache of throbbing pain, often on one side of the head."),
    ]
    rows = [{"instruction": q, "output": a} for q, a in pairs]
    rows[2]["output"], rows[5]["output"] = pairs[5][1], pairs[2][1]  # swapped
    operator = MismatchedAnswerFilter({"min_margin": 1.0, "references": 16})
    kept, drops, _, outcome = run_operator(operator, rows, tmp_path, resources)
    assert sorted(d["source_row"] for d in drops) == [3, 6]
    assert {d["reason"] for d in drops} == {"mismatched_answer"}
    assert drops[0]["detail"].startswith("margin ")
    assert accounted(outcome)
