"""One CurateConfig from the CLI and from the autodp_curate DAG's Params, defaults from the
config, and a run that names what it is missing."""

import pytest

from autodp.cli import parser
from autodp.cli.governance import curate_params
from autodp.curate import CurateConfig, ValidationRules
from tests.conftest import REPO


def curate_dag_params():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags")).get_dag("autodp_curate").params.dump()


def test_cli_and_dag_params_build_the_same_config(airflow_db):
    args = parser().parse_args(["curate", "new.jsonl", "--recipe", "gout", "--max-row-drift", "0.2",
                                "--shard-rows", "100", "--export-layout", "sharegpt",
                                "--map", "output=answer"])
    from_cli = CurateConfig.from_params(curate_params(args))
    from_dag = CurateConfig.from_params({**curate_dag_params(), "recipe": "gout", "source": "new.jsonl",
                                         "max_row_drift": 0.2, "shard_rows": 100, "export_layout": "sharegpt",
                                         "mapping": ["output=answer"]})
    assert from_cli == from_dag
    assert from_cli.rules == ValidationRules(max_row_drift=0.2) and from_cli.shard_rows == 100


def test_defaults_come_from_the_config(airflow_db):
    args = parser().parse_args(["curate", "new.jsonl", "--recipe", "gout"])
    expected = CurateConfig("gout", "new.jsonl")
    assert CurateConfig.from_params(curate_params(args)) == expected
    assert CurateConfig.from_params({**curate_dag_params(), "recipe": "gout", "source": "new.jsonl"}) == expected


@pytest.mark.parametrize("params, message", [
    ({"recipe": "", "source": "new.jsonl"}, "Param recipe is empty"),
    ({"recipe": "", "source": ""}, "Param recipe and source is empty"),
    ({"recipe": "gout", "source": "x", "shard_rows": -1}, "shard_rows is -1"),
])
def test_a_config_names_what_is_wrong(params, message):
    with pytest.raises(ValueError, match=message):
        CurateConfig.from_params(params)
