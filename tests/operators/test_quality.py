"""The quality scorer: a score in [0, 1] per record with its signals, `autodp score`, and
the same scorer behind quality_score_filter and target selection's seed labels."""

import json

import pyarrow.parquet as pq
import pytest

from autodp.artifacts import DATASETS, RECORDS_FILE, SCORES
from autodp.cli import main
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.operators import quality
from autodp.operators.resources import Resources
from autodp.search import evidence as search_evidence
from autodp.settings import Settings
from tests.conftest import record, write_lines

TOPICS = ["asthma", "diabetes", "gout", "migraine", "eczema", "anemia", "arthritis", "influenza", "measles",
          "psoriasis", "glaucoma", "scoliosis"]
ANSWERS = {
    "asthma": "Asthma is treated with inhaled corticosteroids every day and a rescue inhaler during attacks.",
    "diabetes": "Diabetes is managed with insulin or metformin, a balanced diet and regular blood sugar checks.",
    "gout": "Gout flares are treated with colchicine or anti-inflammatory drugs, and allopurinol prevents them.",
    "migraine": "Migraine attacks respond to triptans and rest in a dark room; some people take daily preventives.",
    "eczema": "Eczema improves with moisturisers applied twice a day and steroid creams during flares.",
    "anemia": "Iron deficiency anemia is treated with iron tablets and foods rich in iron such as lentils.",
    "arthritis": "Arthritis pain is eased by exercise, weight control and anti-inflammatory medicines.",
    "influenza": "Influenza usually passes with rest and fluids; antivirals help when started within two days.",
    "measles": "Measles has no specific cure; care means fluids, fever control and vitamin A for children.",
    "psoriasis": "Psoriasis plaques are treated with topical steroids, light therapy or biologic injections.",
    "glaucoma": "Glaucoma is controlled with eye drops that lower the pressure inside the eye, or with surgery.",
    "scoliosis": "Scoliosis in growing children is watched closely and braced when the curve keeps increasing.",
}


def graded(tmp_path):
    """Twelve clean records and one each of five defects, with the defective rows' numbers."""
    lines = [record(f"How is {t} treated?", output=ANSWERS[t]) for t in TOPICS]
    lines += [
        record("How is hepatitis treated?", output=""),
        record("How is rosacea treated?", output="Rosacea is treated with creams that calm the redness and"),
        record("How is lupus treated?", output=ANSWERS["glaucoma"]),
        record("How is tinnitus treated?", output="See https://made.up/tinnitus-cures for the full list."),
        record(f"How is {TOPICS[0]} treated?", output=ANSWERS[TOPICS[0]]),
    ]
    return write_lines(tmp_path / "graded.jsonl", lines), set(range(13, 18))


@pytest.fixture
def plain_resources(tmp_path):
    return Resources(settings=Settings(home=tmp_path / "home", store_uri=str(tmp_path / "store")))


def test_defects_score_below_clean_records_and_say_why(local_store, tmp_path, plain_resources):
    path, defective = graded(tmp_path)
    key = ingest(str(path), local_store)["dataset_key"]
    table, seconds = quality.score_records(local_store.file_location(DATASETS, key, RECORDS_FILE), plain_resources,
                                           signals=("rules", "relevance"))
    rows = table.to_pylist()
    assert [r["source_row"] for r in rows] == list(range(1, 18)) and set(seconds) == {"rules", "relevance"}
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    by_row = {r["source_row"]: r for r in rows}
    assert "drop_empty_output:empty_output" in by_row[13]["rules"]
    assert "truncation_filter" in by_row[14]["rules"]
    assert "hallucinated_url_filter" in by_row[16]["rules"]
    assert "exact_dedup" in by_row[17]["rules"]
    assert by_row[15]["relevance_margin"] < quality.MIN_MARGIN < min(by_row[n]["relevance_margin"] for n in range(1, 13))
    worst_clean = min(by_row[n]["score"] for n in range(1, 13))
    assert all(by_row[n]["score"] < quality.LOW_QUALITY <= worst_clean for n in defective)
    evidence = search_evidence.operator_evidence(table)
    assert evidence["drop_empty_output"] == round(1 / 17, 4) and evidence["language_filter"] == 0.0


def test_likelihood_signal_scores_only_the_rows_asked(local_store, tmp_path, plain_resources):
    path, _ = graded(tmp_path)
    key = ingest(str(path), local_store)["dataset_key"]
    table, _ = quality.score_records(local_store.file_location(DATASETS, key, RECORDS_FILE), plain_resources,
                                     signals=("likelihood",), only_rows=frozenset({1, 13}))
    by_row = {r["source_row"]: r for r in table.to_pylist()}
    assert by_row[1]["ifd"] > 0 and 0 < by_row[1]["p_likelihood"] < 1 and by_row[1]["score"] is not None
    assert by_row[13]["ifd"] is None and by_row[13]["score"] == 1.0  # an empty output has no likelihood
    assert all(by_row[n]["score"] is None and by_row[n]["ifd"] is None for n in range(2, 13))


def test_score_command_writes_parquet_beside_a_summary(tmp_path, capsys):
    path, defective = graded(tmp_path)
    store, out = tmp_path / "store", tmp_path / "out"
    argv = ["score", str(path), "--store", str(store), "--signals", "rules,relevance", "--out", str(out), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == summary["scored"] == 17 and summary["low_quality"] == len(defective)
    assert sum(summary["score_histogram"]["counts"]) == 17 and summary["scores"] == str(out / "scores.parquet")
    written = pq.read_table(out / "scores.parquet").to_pylist()
    assert {r["source_row"] for r in written if r["score"] < quality.LOW_QUALITY} == defective
    assert json.loads((out / "summary.json").read_text())["scores_key"] == summary["scores_key"]
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["cached"] is True
    assert main(["score", str(path), "--store", str(store), "--signals", "rules,vibes"]) == 2
    assert "unknown quality signal(s) vibes" in capsys.readouterr().err


def test_quality_score_filter_with_the_scorers_signals(local_store, tmp_path, plain_resources):
    path, defective = graded(tmp_path)
    key = ingest(str(path), local_store)["dataset_key"]
    strategy = Strategy.from_data([{"quality_score_filter": {"scorer": "signals", "threshold": 5}}])
    result = apply_strategy(key, strategy, local_store, plain_resources)
    [step] = result["steps"]
    assert step["dropped"] == {"low_quality_score": len(defective)}
    assert step["rows_in"] == step["rows_out"] + len(defective)
    drops = pq.read_table(local_store.file_location(DATASETS, result["output_key"], "drops.parquet")).to_pylist()
    assert {d["source_row"] for d in drops} == defective and all(d["detail"].startswith("score ") for d in drops)


def test_scores_are_an_artifact_keyed_by_dataset_and_signals(store, tmp_path, plain_resources):
    path, _ = graded(tmp_path)
    key = ingest(str(path), store)["dataset_key"]
    first = search_evidence.score_dataset(key, store, signals=("rules",), resources=plain_resources)
    assert not first["cached"] and first["signals"] == ["rules"] and first["rules_fired"]
    assert search_evidence.score_dataset(key, store, signals=("rules",), resources=plain_resources)["cached"]
    other = search_evidence.score_dataset(key, store, signals=("rules", "relevance"), resources=plain_resources)
    assert sorted(store.artifacts(SCORES)) == sorted([first["scores_key"], other["scores_key"]])


def test_duplicate_evidence_is_the_share_the_whole_dataset_loses(store, tmp_path, plain_resources):
    """Forty distinct records, ten verbatim copies and ten copies with one word changed:
    exact_dedup drops the copies (10 of 60), near_dedup both kinds (20 of 60); sharded the same."""
    import random
    from dataclasses import replace

    rng = random.Random(7)
    words = [f"w{n}" for n in range(400)]
    outputs = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(40)]
    lines = [record(f"Question {i}?", output=text) for i, text in enumerate(outputs)]
    lines += [record(f"Question {i}?", output=outputs[i]) for i in range(10)]
    lines += [record(f"Question {i}?", output=outputs[i].replace(outputs[i].split()[-1], "changed"))
              for i in range(10, 20)]
    key = ingest(str(write_lines(tmp_path / "copies.jsonl", lines)), store)["dataset_key"]

    found = search_evidence.duplicate_evidence(key, store, plain_resources)
    assert found == {"exact_dedup": round(10 / 60, 4), "near_dedup": round(20 / 60, 4)}
    sharded = replace(plain_resources, settings=replace(plain_resources.settings, shard_rows=25))
    assert search_evidence.duplicate_evidence(key, store, sharded) == found
    with pytest.raises(ValueError, match="'length_bounds' has no whole-dataset evidence"):
        search_evidence.duplicate_evidence(key, store, plain_resources, ("length_bounds",))
