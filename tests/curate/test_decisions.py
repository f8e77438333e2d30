"""The governance log: approvals make recipes under the caller's identity, a rejected
search never becomes one, a retired recipe is refused by curation with a clear message,
and the log only grows."""

import getpass

import pytest

from autodp.artifacts import DECISIONS
from autodp.cli import main
from autodp.curate import (
    CurateConfig,
    DecisionRefused,
    RecipeRetired,
    Reviewer,
    approve,
    curate,
    decisions,
    recipe,
    recipes,
    reject,
    retire,
    review_status,
)
from autodp.ingest import ingest
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.loop import search
from autodp.store import ArtifactNotFound, LocalStore
from tests.conftest import record, write_lines

ALICE = Reviewer("alice", "airflow")


@pytest.fixture(scope="module")
def published_searches(tmp_path_factory):
    root = tmp_path_factory.mktemp("decisions")
    store = LocalStore(root / "store")
    config = SearchConfig(iterations=1, candidates=1, method="random", base="tiny", sample_size=20, eval_size=4,
                          operators=("drop_empty_output",), lora=LoraSettings(steps=1, batch_size=4),
                          confirm_top=0)
    keys = []
    for name in ("first", "second"):
        lines = [record(f"{name} question {i}?", output="" if i % 5 == 0 else f"{name} answer {i}.") for i in range(40)]
        dataset = ingest(str(write_lines(root / f"{name}.jsonl", lines)), store)["dataset_key"]
        keys.append(search(dataset, store, config)["published_key"])
    return root, keys


@pytest.fixture
def store(published_searches, tmp_path):
    """A fresh copy of the store with two published searches and an empty log."""
    import shutil

    root, _ = published_searches
    shutil.copytree(root / "store", tmp_path / "store")
    return LocalStore(tmp_path / "store")


def test_an_approval_is_a_recipe_and_a_decision_under_the_reviewer(store, published_searches):
    first = published_searches[1][0]
    made = approve(store, first, "gout", ALICE, "beats raw")
    assert (made["approved_by"], made["approved_via"]) == ("alice", "airflow")
    assert recipe(store, "gout")["recipe_key"] == made["recipe_key"]
    [decision] = decisions(store)
    assert (decision["action"], decision["by"], decision["recipe_key"]) == ("approve", "alice", made["recipe_key"])
    assert review_status(store, first)["status"] == "approved"
    with pytest.raises(DecisionRefused, match="retire its recipe instead"):
        reject(store, first, ALICE, "changed my mind")


def test_a_rejected_search_never_becomes_a_recipe(store, published_searches):
    second = published_searches[1][1]
    reject(store, second, ALICE, "drops too little")
    with pytest.raises(DecisionRefused, match="rejected by alice .* cannot become a recipe"):
        approve(store, second, "other", ALICE, "looks fine after all")
    assert recipes(store) == [] and review_status(store, second)["status"] == "rejected"
    with pytest.raises(DecisionRefused, match="already rejected"):
        reject(store, second, ALICE, "twice")


def test_a_retired_recipe_is_refused_by_curation(store, published_searches, tmp_path):
    approve(store, published_searches[1][0], "gout", ALICE, "beats raw")
    retire(store, "gout", Reviewer("bob", "airflow"), "superseded by the new guideline")
    new = write_lines(tmp_path / "new.jsonl", [record(f"Q {i}?", output=f"A {i}.") for i in range(10)])
    with pytest.raises(RecipeRetired, match="recipe 'gout' was retired by bob \\(airflow\\) .*superseded"):
        curate(store, CurateConfig("gout", str(new)))
    with pytest.raises(DecisionRefused, match="already retired"):
        retire(store, "gout", ALICE, "again")
    approve(store, published_searches[1][0], "gout", ALICE, "reinstated")  # a new approval is a new recipe
    assert recipe(store, "gout")["reason"] == "reinstated"


def test_decisions_need_a_reason_and_a_known_search(store, published_searches):
    with pytest.raises(ValueError, match="needs a reason"):
        approve(store, published_searches[1][0], "gout", ALICE, " ")
    with pytest.raises(ArtifactNotFound):
        approve(store, "0" * 32, "gout", ALICE, "fine")
    with pytest.raises(LookupError, match="no approved recipe named 'nope'"):
        retire(store, "nope", ALICE, "old")
    assert store.artifacts(DECISIONS) == []


def test_the_log_only_grows(store, published_searches):
    first, second = published_searches[1]
    approve(store, first, "gout", ALICE, "beats raw")
    before = {key: store.manifest(DECISIONS, key)["files"] for key in store.artifacts(DECISIONS)}
    reject(store, second, ALICE, "no")
    retire(store, "gout", ALICE, "old")
    after = {key: store.manifest(DECISIONS, key)["files"] for key in store.artifacts(DECISIONS)}
    assert len(after) == 3 and all(after[key] == files for key, files in before.items())
    assert [d["action"] for d in decisions(store)] == ["approve", "reject", "retire"]


def test_the_cli_records_its_operating_system_user(store, published_searches, capsys):
    first, second = published_searches[1]
    root = str(store.root)
    assert main(["recipe", "approve", first, "--name", "gout", "--reason", "beats raw", "--store", root]) == 0
    assert f"approved by {getpass.getuser()} (cli)" in capsys.readouterr().out
    assert main(["recipe", "reject", second, "--reason", "no", "--store", root]) == 0
    assert main(["recipe", "approve", second, "--name", "x", "--reason", "y", "--store", root]) == 2
    assert "cannot become a recipe" in capsys.readouterr().err
    assert main(["recipe", "retire", "gout", "--reason", "old", "--store", root]) == 0
    assert main(["recipe", "list", "--store", root]) == 0
    assert f"retired by {getpass.getuser()}" in capsys.readouterr().out
    assert [(d["action"], d["via"]) for d in decisions(store)] == [("approve", "cli"), ("reject", "cli"),
                                                                    ("retire", "cli")]
