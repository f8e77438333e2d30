"""autodp's Airflow tasks, with the datasets they read and wrote reported to OpenLineage.

``task`` is Airflow's ``@task`` whose operator collects ``autodp.store.lineage`` while the
function runs and answers the OpenLineage provider's ``get_openlineage_facets_on_complete``
with those datasets: the source file and the store's artifact folders (``s3://bucket`` or
``file`` namespaces), each artifact with its content key as the dataset version. Where the
provider is not configured (no transport), nothing is emitted and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory

from autodp.store import lineage


class LineageTaskOperator(DecoratedOperator, PythonOperator):
    """``@task``'s operator, collecting the lineage of the function it runs."""

    custom_operator_name = "@task"

    def __init__(self, *, python_callable, op_args, op_kwargs, **kwargs) -> None:
        super().__init__(kwargs_to_upstream={"python_callable": python_callable, "op_args": op_args,
                                             "op_kwargs": op_kwargs},
                         python_callable=python_callable, op_args=op_args, op_kwargs=op_kwargs, **kwargs)
        self._lineage = lineage.Lineage()

    def execute(self, context: Any) -> Any:
        with lineage.collecting() as collected:
            try:
                return super().execute(context)
            finally:
                self._lineage = collected

    def get_openlineage_facets_on_complete(self, task_instance: Any):
        return openlineage_facets(self._lineage)

    def get_openlineage_facets_on_failure(self, task_instance: Any):
        return openlineage_facets(self._lineage)


def openlineage_facets(collected: lineage.Lineage):
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import dataset_version_dataset

    def facets(dataset: lineage.LineageDataset) -> dict[str, Any]:
        if dataset.version is None:
            return {}
        return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=dataset.version)}

    return OperatorLineage(
        inputs=[InputDataset(d.namespace, d.name, facets=facets(d)) for d in collected.inputs],
        outputs=[OutputDataset(d.namespace, d.name, facets=facets(d)) for d in collected.outputs],
    )


def task(python_callable: Callable | None = None, multiple_outputs: bool | None = None, **kwargs: Any):
    """``airflow.sdk.task`` (the Python flavour) with autodp's lineage."""
    return task_decorator_factory(python_callable=python_callable, multiple_outputs=multiple_outputs,
                                  decorated_operator_class=LineageTaskOperator, **kwargs)
