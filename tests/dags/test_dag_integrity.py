"""Every DAG file imports cleanly, names its tags and retries, and does no I/O at parse."""

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "autodp_search" in dagbag.dags


def test_every_dag_has_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_every_param_is_documented(dagbag):
    for dag_id, dag in dagbag.dags.items():
        for name, param in dag.params.items():
            assert param.description, f"{dag_id} param {name!r} has no description"
            assert "type" in param.schema, f"{dag_id} param {name!r} has no type"


def test_every_trigger_form_opens_with_its_inputs_and_groups_the_rest_in_sections(dagbag):
    opening = {"autodp_search": {"source", "file_format", "layout", "mapping", "max_record_bytes"},
               "autodp_curate": {"recipe", "source", "mapping"},
               "autodp_distill": {"source", "mapping", "name", "tasks"}}
    for dag_id, inputs in opening.items():
        params = dagbag.dags[dag_id].params
        unsectioned = {name for name, param in params.items() if "section" not in param.schema}
        assert unsectioned == inputs, dag_id
        assert len({params.get_param(name).schema["section"] for name in set(params) - inputs}) >= 3, dag_id
