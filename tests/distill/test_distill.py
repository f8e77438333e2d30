"""Distilling the augmentation family end to end on real seed tasks: the local SmolLM2
server is the teacher and the judge, the student is the two-layer test model with a LoRA."""

import pytest

from autodp.artifacts import ADAPTERS, AUGMENTATION_MODELS, DATASETS
from autodp.augmentation.registry import entries, resolve
from autodp.augmentation.templates import TASKS, student_answer
from autodp.distill.config import DistillConfig
from autodp.distill.loop import distill
from autodp.distill.seeds import read_records
from autodp.execution.executor import apply_strategy, prefix_keys
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.search.config import LoraSettings
from tests.conftest import SHARED_DATASETS

SEED_TASKS = SHARED_DATASETS / "alpaca" / "seed_tasks.jsonl"
CONFIG = DistillConfig(name="test-family", seeds=16, held_out=6, clusters=4, per_seed=1, base="tiny",
                       lora=LoraSettings(steps=6, batch_size=4, max_length=192))

pytestmark = pytest.mark.skipif(not SEED_TASKS.is_file(), reason="../shared/datasets is not present")


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, llm_server):
    """One distillation shared by the tests below (it is the slow part)."""
    from autodp.llm.endpoints import LOCAL_MODEL, ROLES, Endpoint
    from autodp.operators.resources import Resources
    from autodp.settings import Settings
    from autodp.store import LocalStore

    root = tmp_path_factory.mktemp("distill")
    store = LocalStore(root / "store")
    settings = Settings(home=root / "home", store_uri=str(root / "store"))

    def fresh() -> Resources:
        return Resources(settings=settings, endpoints={
            role: Endpoint(role, llm_server.base_url, LOCAL_MODEL, trusted=True) for role in ROLES})

    dataset_key = ingest(str(SEED_TASKS), store)["dataset_key"]
    result = distill(dataset_key, store, CONFIG, fresh())
    return {"store": store, "result": result, "dataset_key": dataset_key, "fresh": fresh}


def test_seeds_are_balanced_over_clusters_and_held_out_apart(distilled):
    seeds = distilled["result"]["seeds"]
    assert seeds["seeds"] == 16 and seeds["held_out"] == 6 and seeds["clusters"] == 4
    for spread in seeds["per_cluster"].values():
        assert max(spread.values()) - min(spread.values()) <= 1, spread
    store = distilled["store"]
    train = {r["instruction"] for r in read_records(store, seeds["seeds_key"])}
    held = {r["instruction"] for r in read_records(store, seeds["held_out_key"])}
    assert len(train) == 16 and len(held) == 6 and not train & held


def test_every_task_is_annotated_filtered_trained_evaluated_and_registered(distilled):
    store, tasks = distilled["store"], distilled["result"]["tasks"]
    assert set(tasks) == set(TASKS)
    for task, done in tasks.items():
        teacher = done["teacher"]
        assert teacher["calls"] == teacher["records"] + sum(teacher["rejected"].values())
        assert teacher["usage"]["calls"] + teacher["usage"]["cached"] == teacher["calls"]
        assert done["filter"]["rows_in"] == teacher["records"] >= 1
        assert [s["operator"] for s in done["filter"]["steps"]][-1] == "quality_score_filter"
        assert store.has(ADAPTERS, done["adapter"]["adapter_key"])
        scores = done["evaluation"]
        assert scores["held_out_seeds"] == 6
        for who in ("student", "teacher"):
            validity = scores["validity"][who]
            assert validity["valid"] + sum(validity["invalid"].values()) == 6
        judge = scores["judge"]
        assert judge["wins"] + judge["ties"] + judge["losses"] == 6 and "usable" in judge
        assert scores["imitation"]["examples"] == scores["validity"]["teacher"]["valid"]
        assert scores["cost"]["student"]["s_per_1000_records"] > 0
        entry = done["entry"]
        assert entry["task"] == task and entry["name"] == "test-family"
        assert entry["data"]["filtered"] == done["filter"]["filtered_key"]
        assert entry["adapter_key"] == done["adapter"]["adapter_key"]
        assert resolve(store, "test-family", task)["key"] == entry["key"]
        assert resolve(store, entry["key"], task)["key"] == entry["key"]
    assert len(entries(store)) == 3


def test_teacher_outputs_become_the_students_plain_answers(distilled):
    store = distilled["store"]
    pairs = distilled["result"]["tasks"]["pair_expansion"]["teacher"]["teacher_key"]
    assert all(not r["instruction"].startswith("Instruction: ") for r in read_records(store, pairs))
    trained = distilled["result"]["tasks"]["pair_expansion"]["adapter"]["student_data_key"]
    for record in read_records(store, trained):
        assert record["instruction"].startswith("Instruction: ")
        assert student_answer("pair_expansion", record["output"]) is not None


def test_a_rerun_recomputes_nothing(distilled):
    store = distilled["store"]
    before = {kind: store.artifacts(kind) for kind in (DATASETS, ADAPTERS, AUGMENTATION_MODELS)}
    again = distill(distilled["dataset_key"], store, CONFIG, distilled["fresh"]())
    assert all(done["teacher"]["cached"] and done["adapter"]["cached"] for done in again["tasks"].values())
    assert {kind: store.artifacts(kind) for kind in before} == before


def test_operators_run_the_registered_model_and_key_it(distilled, tmp_path):
    store = distilled["store"]
    resources = distilled["fresh"]().using(store)
    seeds = distilled["result"]["seeds"]["held_out_key"]
    for step in ({"instruction_refinement": {"model": "test-family"}},
                 {"instruction_expansion": {"model": "test-family", "new_fraction": 1.0, "max_new": 3,
                                            "max_tokens": 32}},
                 {"pair_expansion": {"model": "test-family", "new_fraction": 1.0, "max_new": 3}}):
        [(name, params)] = step.items()
        with_model = Strategy.from_data([step])
        without = Strategy.from_data([{name: {k: v for k, v in params.items() if k != "model"}}])
        entry = resolve(store, "test-family", name)
        assert prefix_keys(seeds, with_model, resources) != prefix_keys(seeds, without, resources)
        applied = apply_strategy(seeds, with_model, store, resources)
        [ran] = applied["steps"]
        assert ran["rows_out"] == ran["rows_in"] + ran["added"]
        manifest = store.manifest(DATASETS, applied["output_key"])
        assert manifest["provenance"]["operator"]["augmentation_model"] == entry["key"]
        assert resources.student("test-family", name).usage.prompts + \
            resources.student("test-family", name).usage.cached >= 1


def test_an_unknown_model_is_refused_naming_what_is_registered(distilled):
    store, resources = distilled["store"], distilled["fresh"]()
    seeds = distilled["result"]["seeds"]["held_out_key"]
    with pytest.raises(LookupError, match="no augmentation model 'nope' for instruction_refinement.*test-family"):
        apply_strategy(seeds, Strategy.from_data([{"instruction_refinement": {"model": "nope"}}]), store, resources)


def test_the_search_proposes_strategies_that_run_the_family(distilled):
    from autodp.search.agent import agent_context
    from autodp.search.config import SearchConfig
    from autodp.search.loop import augmentation_operators, search

    store = distilled["store"]
    augmenting = augmentation_operators(store, "test-family")
    assert set(augmenting) == {"instruction_expansion", "instruction_refinement", "pair_expansion"}
    shown = agent_context({}, {}, ["drop_empty_output", *augmenting], [], {}, augmenting)
    card = next(c for c in shown["operators"] if c["name"] == "instruction_refinement")
    assert card["runs_augmentation_model"]["name"] == "test-family"
    assert set(card["runs_augmentation_model"]) == {"name", "validity", "win_rate_vs_teacher", "judge_usable",
                                                   "imitation_delta_nll"}

    config = SearchConfig(iterations=1, candidates=2, method="random", base="tiny", sample_size=40, eval_size=6,
                          operators=("instruction_refinement",), augmentation_model="test-family",
                          lora=LoraSettings(steps=2, batch_size=4), confirm_top=0)
    result = search(distilled["dataset_key"], store, config, distilled["fresh"]())
    tried = [step for entry in result["leaderboard"] for step in entry["steps"]]
    assert tried and all(step["params"]["model"] == "test-family" for step in tried)
    card = result["data_card"]  # governance sees which registered model made or rewrote the data
    assert set(card["augmentation_models"]) == {s["operator"] for s in card["strategy"]}
    assert all(m["entry"] == resolve(store, "test-family", op)["key"] for op, m in card["augmentation_models"].items())
    published = store.read_bytes(f"published/{result['published_key']}/data_card.md").decode()
    assert "## Augmentation models" in published and "'test-family'" in published
    with pytest.raises(LookupError, match="no augmentation model 'nope'"):
        augmentation_operators(store, "nope")
