"""Drift: a curate run whose batch behaves differently from the data its recipe was
approved on is flagged with the step or aggregate, the expected range and the observed
value; under the fail policy it publishes nothing; the next run compares with it too."""

import shutil

import pytest

from autodp.artifacts import CURATED, DRIFT_FILE
from autodp.cli import main
from autodp.curate import (
    CurateConfig,
    DriftFailed,
    DriftRules,
    Reviewer,
    ValidationRules,
    approve,
    curate,
    recipe,
)
from autodp.curate.drift import PREVIOUS, SEARCH, check
from autodp.ingest import ingest
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.store import LocalStore
from tests.conftest import record, write_lines

ALICE = Reviewer("alice", "airflow")


def english(count, start=0):
    return [record(f"Question {i}: what are the symptoms of gout and how is it treated at home?",
                   output=f"Answer {i}: gout causes sudden, severe pain in a joint; rest, fluids and "
                          "anti-inflammatory medicine help.") for i in range(start, start + count)]


def french(count, start=0):
    return [record(f"Question {i} : quels sont les symptômes de la goutte et comment la soigner à la maison ?",
                   output=f"Réponse {i} : la goutte provoque une douleur vive et soudaine dans une articulation ; "
                          "il faut se reposer, boire beaucoup d'eau et prendre un anti-inflammatoire.")
            for i in range(start, start + count)]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A search whose only operator is language_filter, published on English data."""
    root = tmp_path_factory.mktemp("drift")
    store = LocalStore(root / "store")
    dataset = ingest(str(write_lines(root / "found.jsonl", english(60))), store)["dataset_key"]
    config = SearchConfig(iterations=1, candidates=1, method="random", base="tiny", sample_size=30, eval_size=6,
                          operators=("language_filter",), lora=LoraSettings(steps=1, batch_size=4), confirm_top=0)
    return root, search(dataset, store, config)["published_key"]


@pytest.fixture
def store(published, tmp_path):
    root, _ = published
    shutil.copytree(root / "store", tmp_path / "store")
    return LocalStore(tmp_path / "store")


def test_a_shifted_language_mix_is_flagged_with_the_step_and_the_figures(store, published, tmp_path, capsys):
    approve(store, published[1], "gout", ALICE, "English only", DriftRules(policy="warn"))
    assert [s["operator"] for s in recipe(store, "gout")["strategy"]] == ["language_filter"]

    same = write_lines(tmp_path / "same.jsonl", english(40, start=100))
    first = curate(store, CurateConfig("gout", str(same)))
    assert first["drift"]["breaches"] == [] and first["drift"]["references"] == [SEARCH]

    shifted = write_lines(tmp_path / "shifted.jsonl", english(24, start=200) + french(16))
    assert main(["curate", str(shifted), "--recipe", "gout", "--store", str(store.root)]) == 0
    printed = capsys.readouterr().out
    assert "[DRIFT] step 1 language_filter share against the approved search: expected 0.0-0.1, observed 0.4" \
        in printed
    latest = sorted((store.read_json(CURATED, key, DRIFT_FILE) for key in store.artifacts(CURATED)),
                    key=lambda report: len(report["breaches"]))[-1]
    breached = {(b["aggregate"], b["against"]): b for b in latest["breaches"]}
    step = breached[("step 1 language_filter share", SEARCH)]
    assert step["expected"] == [0.0, 0.1] and step["observed"] == pytest.approx(0.4)
    assert ("step 1 language_filter share", PREVIOUS) in breached  # the first run dropped nothing either
    assert breached[("language en share", SEARCH)]["observed"] == pytest.approx(0.6, abs=0.05)
    assert ("language fr share", SEARCH) in breached
    assert latest["policy"] == "warn" and set(latest["references"]) == {SEARCH, PREVIOUS}


def test_under_the_fail_policy_a_drifting_batch_publishes_nothing(store, published, tmp_path):
    approve(store, published[1], "strict", ALICE, "English only", DriftRules(policy="fail",
                                                                             max_language_share_change=0.2))
    shifted = write_lines(tmp_path / "shifted.jsonl", english(20, start=300) + french(20))
    with pytest.raises(DriftFailed, match=r"\[DRIFT\] language fr share against the approved search: "
                                          r"expected 0.0-0.2, observed 0.5"):
        curate(store, CurateConfig("strict", str(shifted)))
    assert store.artifacts(CURATED) == []


def test_the_rules_are_set_at_approval_and_stored_with_the_recipe(store, published):
    assert main(["recipe", "approve", published[1], "--name", "cli", "--reason", "ok", "--drift-policy", "fail",
                 "--max-step-share-change", "0.05", "--store", str(store.root)]) == 0
    rules = DriftRules.from_params(recipe(store, "cli")["drift"])
    assert rules == DriftRules(policy="fail", max_step_share_change=0.05)
    with pytest.raises(ValueError, match="drift policy 'sometimes'"):
        DriftRules(policy="sometimes")
    with pytest.raises(ValueError, match="max_rate_change is -1.0"):
        DriftRules.from_params({"max_rate_change": "-1"})


def test_a_sample_of_the_approved_data_does_not_drift_from_it(store, published, tmp_path):
    """The same distribution at another size: no figure may depend on the batch's size."""
    approve(store, published[1], "sized", ALICE, "English only")
    lines = [line[:-1] + f', "source": "clinic-{i % 3}", "ticket": "t-{i}"}}' for i, line in enumerate(english(90))]
    curate(store, CurateConfig("sized", str(write_lines(tmp_path / "big.jsonl", lines))))
    small = curate(store, CurateConfig("sized", str(write_lines(tmp_path / "small.jsonl", lines[:12])),
                                       rules=ValidationRules(max_row_drift=10)))  # the row count is validation's
    assert [b for b in small["drift"]["breaches"] if b["against"] == PREVIOUS] == []
    # the approved data had no metadata: two fields appearing is drift against the search
    assert {b["aggregate"] for b in small["drift"]["breaches"]} == {"metadata source present rate",
                                                                   "metadata ticket present rate"}


def test_each_kind_of_aggregate_has_its_own_range():
    reference = {"step 1 exact_dedup share": 0.05, "output chars p50": 200.0, "output empty rate": 0.0,
                 "language en share": 0.98, "metadata source present rate": 1.0, "metadata source distinct values": 12.0,
                 "metadata topic present rate": 1.0, "metadata topic distinct values": 40.0, "metadata url present rate": 1.0}
    observed = {"step 1 exact_dedup share": 0.3, "output chars p50": 90.0, "output empty rate": 0.02,
                "language en share": 0.97, "language de share": 0.03, "metadata source present rate": 0.4,
                "metadata source distinct values": 5.0, "metadata topic present rate": 1.0,
                "metadata url present rate": 1.0}  # topic has more than 100 values here: id-like, not compared
    report = check(observed, {SEARCH: reference, PREVIOUS: None}, DriftRules())
    ranges = {c["aggregate"]: (c["expected"], c["success"]) for c in report["checks"]}
    assert ranges == {"step 1 exact_dedup share": ([0.0, 0.15], False), "output chars p50": ([100.0, 300.0], False),
                      "output empty rate": ([0.0, 0.1], True), "language en share": ([0.83, 1.0], True),
                      "language de share": ([0.0, 0.15], True), "metadata source present rate": ([0.9, 1.0], False),
                      "metadata source distinct values": ([6.0, 18.0], False),
                      "metadata topic present rate": ([0.9, 1.0], True), "metadata url present rate": ([0.9, 1.0], True)}
    assert report["references"] == [SEARCH] and not report["success"]
