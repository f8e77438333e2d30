"""autodp under Airflow: what a DAG task builds from its Params and connections (``support``),
the ``@task`` that hands each task's lineage to the OpenLineage provider (``openlineage``),
the local Airflow services the review app and the browser tests run against
(``services``), and the main job, which runs the ``autodp_search`` DAG through Airflow
(``main_job``)."""
