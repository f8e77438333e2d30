"""One DistillConfig from the CLI and from the autodp_distill DAG's Params."""

from autodp.cli import parser
from autodp.cli.augmentation import distill_params
from autodp.distill.config import DistillConfig
from tests.conftest import REPO


def test_cli_and_dag_params_build_the_same_config(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag_params = DagBag(dag_folder=str(REPO / "dags")).get_dag("autodp_distill").params.dump()
    assert DistillConfig.from_params({**dag_params, "source": "seeds.jsonl"}) == DistillConfig()
    args = parser().parse_args(["distill", "seeds.jsonl", "--seeds", "40", "--steps", "12", "--tasks",
                                "instruction_refinement"])
    from_cli = DistillConfig.from_params(distill_params(args))
    from_dag = DistillConfig.from_params({**dag_params, "seeds": 40, "lora_steps": 12,
                                          "tasks": ["instruction_refinement"]})
    assert from_cli == from_dag and from_cli.lora.steps == 12 and from_cli.tasks == ("instruction_refinement",)
