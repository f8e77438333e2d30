"""One SearchConfig from the CLI and from the DAG's Params, and keys that stay put: a
search published before the search became a package is found again by its key."""

from dataclasses import replace

import pytest

from autodp.cli import parser
from autodp.cli.search import search_params
from autodp.execution.executor import prefix_keys
from autodp.execution.strategy import Strategy
from autodp.llm.endpoints import Endpoint
from autodp.operators.resources import Resources
from autodp.search.config import CONFIRM_BUDGET, DEFAULTS, LoraSettings, SearchConfig, run_key
from autodp.settings import Settings
from tests.conftest import REPO

DATASET = "0" * 64
FLOAT32_CONFIRMATION = replace(CONFIRM_BUDGET, precision="float32")


def test_cli_and_dag_params_build_the_same_config(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    args = parser().parse_args(["search", "data.jsonl", "--method", "random", "--candidates", "2", "--steps", "10",
                                 "--model", "tiny", "--eval-size", "30", "--confirm-precision", "float32"])
    from_cli = SearchConfig.from_params(search_params(args))
    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag("autodp_search")
    params = {**dag.params.dump(), "method": "random", "candidates": 2, "lora_steps": 10, "model": "tiny",
              "eval_size": 30, "confirm_precision": "float32"}
    assert SearchConfig.from_params(params) == from_cli
    assert from_cli.lora == LoraSettings(steps=10) and from_cli.base == "tiny"
    assert from_cli.confirm_lora == FLOAT32_CONFIRMATION


def test_defaults_come_from_the_config(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    args = parser().parse_args(["search", "data.jsonl"])
    assert SearchConfig.from_params(search_params(args)) == DEFAULTS
    run_args = parser().parse_args(["run", "data.jsonl"])
    assert SearchConfig.from_params(search_params(run_args)) == DEFAULTS
    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag("autodp_search")
    assert SearchConfig.from_params(dag.params.dump()) == DEFAULTS


def test_unknown_choice_is_refused_by_the_cli(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["search", "data.jsonl", "--method", "grid"])
    assert "invalid choice: 'grid'" in capsys.readouterr().err


# A search's key changes only with its configuration or SEARCH_VERSION. Version 1's keys were
# the same before and after the search became a package; version 2 (screened references, the
# noise-floor tie margin) changed them on purpose, and so did adding truncation_filter and
# mismatched_answer_filter to the default pool; version 3 (the prior's whole strategy is a
# first-round candidate) changed them again, and version 4 (the deduplicators' evidence from
# the whole dataset) once more, version 5 (publishing, among strategies tied within the
# noise floor, the one removing the most flagged rows) again, and version 6 (the same among the
# strategies the gradient-flow signal's paired difference cannot separate) again. The LoRA
# draws by content (common random numbers) are part of the configuration and changed every key
# once more; a search whose fine-tunes draw by position keeps the key it had before.
@pytest.mark.parametrize("config, key", [
    (SearchConfig(base="tiny", eval_size=40, confirm_top=0, signal="reference", lora=LoraSettings(draws="position")),
     "c60ebfb56eabcd2599d20e279270dc6e"),
    (SearchConfig(base="tiny", eval_size=40, confirm_top=0, signal="reference"), "1672e84b737cb5325bb900f081ec4ab9"),
    (SearchConfig.from_params({"iterations": 2, "candidates": 2, "method": "random", "model": "smollm2",
                               "sample_size": 200, "eval_size": 30, "lora_steps": 10, "patience": 2, "seed": 0,
                               "llm_judge": False, "confirm_top": 0, "signal": "reference"}),
     "052301b690beaf5837535fceff1a24bb"),
    (SearchConfig(iterations=1, candidates=3, method="agent", base="tiny", sample_size=50, eval_size=8,
                  eval_dataset="e" * 64, lora=LoraSettings(steps=30, epochs=2.0), seed=3, llm_judge=True,
                  sampling=False, target_selection=False, reuse=False, confirm_top=0, signal="reference"),
     "e1bd94e75bfa62ae7e7573a7e18c8ef2"),
    # Confirmation (on by default) is part of a search's key; without it a search keeps the key it had before.
    # The confirmed keys below changed when the confirmation's arms moved from the sample to a draw of
    # ``confirm_rows`` rows outside it: a stored confirmation trained on the sample is not found for them.
    (SearchConfig(base="tiny", eval_size=40, signal="reference", confirm_lora=FLOAT32_CONFIRMATION),
     "16d651987518685af15f1ec2bf4571d9"),
    # The signal is part of a search's key; scored by the reference judge, a search keeps the key it had before.
    (SearchConfig(base="tiny", eval_size=40, confirm_lora=FLOAT32_CONFIRMATION), "57a56299d440d76014dffa74618a0977"),
    # So is the confirmation's precision: the float32 confirmation leaves it out of the key; the default, bfloat16
    # autocast, puts it in.
    (SearchConfig(base="tiny", eval_size=40, signal="reference"), "120542fd99ef81713f636e7f874d76df"),
    (SearchConfig(base="tiny", eval_size=40), "dc13d0e1043998849d7ea3232bea1360"),
])
def test_run_keys_are_unchanged(config, key):
    assert run_key(DATASET, config) == key


def test_prefix_keys_are_unchanged(tmp_path):
    resources = Resources(settings=Settings(home=tmp_path, store_uri=str(tmp_path / "store")),
                          endpoints={"data": Endpoint("data", "http://127.0.0.1:8765/v1", "smollm2-135m-instruct")})
    strategy = Strategy.from_data(["normalize_text", "drop_empty_output", {"quality_score_filter": {"threshold": 7}}])
    assert prefix_keys(DATASET, strategy, resources) == [
        "f6863a69f51e40661871e6c89fbe3ec7", "b14ed217cb7bee8e79ae31de33a5b64a", "a65c72afbc547acc6f19899ac4789ad9"]
