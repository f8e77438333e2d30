"""SIGKILL a search through the CLI while it fine-tunes and while it publishes, on the
local store and on S3, then run the same command again: every stored step, adapter and
evaluation equals an uninterrupted run's, and the published result names the same
strategy and scores."""

from __future__ import annotations

import json
import os

import pytest

from autodp.store import ArtifactStore, LocalStore
from tests.conftest import write_lines
from tests.faults.conftest import (
    assert_whole,
    cli,
    kill_when,
    partial_artifacts,
    snapshot,
)

SEARCH = ["--model", "tiny", "--method", "random", "--iterations", "1", "--candidates", "2", "--steps", "6",
          "--sample-size", "48", "--eval-size", "12", "--seed", "3", "--confirm-top", "1", "--confirm-seeds", "2",
          "--confirm-steps", "2", "--confirm-size", "6", "--signal", "reference"]  # candidates fine-tuned: the kills land there


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    lines = []
    for i in range(160):
        output = "" if i % 6 == 0 else f"Answer {i % 11}: rest, fluids and follow-up with your doctor."
        lines.append(json.dumps({"instruction": f"What helps with condition {i % 13}?", "output": output}))
    return write_lines(tmp_path_factory.mktemp("search-source") / "data.jsonl", lines)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, source):
    """The same search run once without a fault, on a local store of its own."""
    root = tmp_path_factory.mktemp("search-reference")
    store = LocalStore(root / "store")
    done = cli(["search", str(source), *SEARCH, "--store", str(store.root), "--json"],
               {**os.environ, "AUTODP_HOME": str(root / "home")}, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return store, json.loads(done.stdout)["run_key"]


def _published_core(store: ArtifactStore) -> list[dict]:
    runs = []
    for key in store.artifacts("published"):
        result = store.read_json("published", key, "result.json") if store.exists(
            f"published/{key}/result.json") else store.manifest("published", key)["summary"]
        runs.append({"key": key, "best": result.get("best", {}).get("strategy_key"),
                     "board": [(h["strategy_key"], h.get("win_rate")) for h in result.get("leaderboard", [])]})
    return runs


def test_a_search_killed_while_fine_tuning_and_publishing_resumes_to_the_same_result(target, source, uninterrupted,
                                                                                      tmp_path):
    uri, store, env = target
    reference, run_key = uninterrupted
    # finetune saves the adapter to a temporary folder and uploads it from there: a kill
    # while that folder exists lands between training and the adapter's manifest, on either store.
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**env, "TMPDIR": str(scratch)}
    args = ["search", str(source), *SEARCH, "--store", uri]

    def saving_adapter() -> bool:
        return any(scratch.glob("autodp-adapter-save-*")) or any(p.startswith("adapters/") for p in partial_artifacts(store))

    def publishing() -> bool:
        return any(p.startswith("published/") for p in partial_artifacts(store))

    kills, adapters = [], []
    for ready in (saving_adapter, saving_adapter, publishing):  # two candidates' adapters, then the publish
        kills.append(kill_when(args, env, ready, timeout=900))
        assert_whole(store)
        adapters.append(len(store.artifacts("adapters")))
    assert sum(kills) >= 2, kills
    assert adapters[0] < len(reference.artifacts("adapters")), "the first kill did not interrupt fine-tuning"
    resumed = cli([*args, "--json"], env, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_whole(store)
    ours = {k: v for k, v in snapshot(store).items() if k[0] != "published"}
    theirs = {k: v for k, v in snapshot(reference).items() if k[0] != "published"}
    assert ours == theirs
    assert _published_core(store) == _published_core(reference)
    assert json.loads(resumed.stdout)["run_key"] == run_key
