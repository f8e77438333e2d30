"""The search's signal on stored datasets: the raw sample is featurised once, a candidate
pays only for the records its strategy rewrote, and its value against raw reads as the
flow form says (the tiny model built in code)."""

import pytest

from autodp.ingest import ingest
from autodp.search.evaluation import Example
from autodp.search.value_judge import SIGNAL, candidate_value, raw_value
from autodp.settings import Settings
from tests.conftest import record, write_lines

TOPICS = ["asthma", "gout", "eczema", "anemia", "migraine", "psoriasis", "glaucoma", "sciatica", "rosacea", "lupus"]


@pytest.fixture
def datasets(local_store, tmp_path):
    rows = [record(f"What is {t}?", output=f"{t.capitalize()} is a condition a doctor can diagnose and treat.")
            for t in TOPICS]
    rewritten = rows[:5] + [record(f"What is {t}?", output=f"{t.capitalize()} needs a doctor.") for t in TOPICS[5:]]
    keys = {name: ingest(str(write_lines(tmp_path / f"{name}.jsonl", lines)), local_store)["dataset_key"]
            for name, lines in (("raw", rows), ("half", rows[:5]), ("rewritten", rewritten))}
    return keys


EXAMPLES = [Example(f"How is {t} treated?", f"{t.capitalize()} is treated by a doctor.") for t in TOPICS[:4]]


def test_a_candidate_is_valued_against_the_raw_sample_paying_only_for_its_new_records(local_store, datasets,
                                                                                     tmp_path):
    settings = Settings(home=tmp_path / "home", store_uri=str(local_store.root))
    raw = raw_value(local_store, datasets["raw"], EXAMPLES, "tiny", settings)
    assert raw.signal == SIGNAL and raw.features_computed == len(TOPICS) + len(EXAMPLES)
    assert raw_value(local_store, datasets["raw"], EXAMPLES, "tiny", settings).features_computed == 0  # stored

    itself = candidate_value(local_store, datasets["raw"], datasets["raw"], EXAMPLES, "tiny", settings)
    assert (itself["difference"], itself["ci95"], itself["features_computed"]) == (0.0, [0.0, 0.0], 0)

    half = candidate_value(local_store, datasets["half"], datasets["raw"], EXAMPLES, "tiny", settings)
    assert half["features_computed"] == 0 and half["records"] == 5 and half["references"] == len(EXAMPLES)
    assert half["difference"] < 0  # half the records, learned early, move the model less than all of them
    low, high = half["ci95"]
    assert low <= half["difference"] <= high

    rewritten = candidate_value(local_store, datasets["rewritten"], datasets["raw"], EXAMPLES, "tiny", settings)
    assert rewritten["features_computed"] == 5  # only the rows the strategy rewrote
