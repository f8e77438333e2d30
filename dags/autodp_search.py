"""
### autodp_search

Finds the data-processing strategy that makes a dataset fine-tune the best model.
This release runs the first two steps of the search:

1. **ingest** the source file into the canonical record table; rows that cannot be used
   are quarantined with their line and reason (`rows_in = rows_kept + rows_quarantined`);
2. **profile** the table: aggregates only, the view the search agent will get.

Every result is stored under a content key, so re-running a task finds its result and
redoes nothing. XCom carries keys and counts, never records.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from autodp.ingest.ingest import DEFAULT_MAX_RECORD_BYTES

PARAMS = {
    "source": Param(
        "",
        type="string",
        minLength=1,
        title="Source dataset",
        description="Path or s3:// URL of a JSONL, JSON-array, Parquet or CSV file (gzip ok), "
        "readable from the workers.",
    ),
    "file_format": Param(
        "auto",
        type="string",
        enum=["auto", "jsonl", "json", "parquet", "csv"],
        title="File format",
        description="auto: from the file name and its first bytes.",
    ),
    "layout": Param(
        "auto",
        type="string",
        enum=["auto", "alpaca", "sharegpt", "mapped"],
        title="Record layout",
        description="auto: alpaca or sharegpt from the first record, or mapped when a "
        "field mapping is given.",
    ),
    "mapping": Param(
        {},
        type="object",
        title="Field mapping",
        description='Source column of each canonical field, e.g. {"instruction": "question", '
        '"output": "answer"}. Leave empty for Alpaca or ShareGPT data.',
        properties={
            "instruction": {"type": "string", "minLength": 1},
            "input": {"type": "string", "minLength": 1},
            "output": {"type": "string", "minLength": 1},
        },
        additionalProperties=False,
    ),
    "max_record_bytes": Param(
        DEFAULT_MAX_RECORD_BYTES,
        type="integer",
        minimum=1024,
        maximum=64 * 1024 * 1024,
        title="Largest record (bytes)",
        description="Records above this size are quarantined as too_large.",
    ),
    "store": Param(
        "",
        type="string",
        title="Artifact store",
        description="Directory or s3://bucket/prefix. Empty: the autodp_store connection, "
        "else the deployment's AUTODP_STORE.",
    ),
}


@dag(
    dag_id="autodp_search",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["autodp", "search"],
    params=PARAMS,
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
)
def autodp_search():
    @task
    def ingest(params: dict | None = None) -> dict:
        from autodp.airflow_support import resolve_store
        from autodp.ingest import ingest

        summary = ingest(
            params["source"],
            resolve_store(params["store"]),
            file_format=params["file_format"],
            layout=params["layout"],
            mapping=params["mapping"] or None,
            max_record_bytes=params["max_record_bytes"],
        )
        return summary

    @task
    def profile(dataset: dict, params: dict | None = None) -> dict:
        from autodp.airflow_support import resolve_store
        from autodp.profile import profile

        report = profile(dataset["dataset_key"], resolve_store(params["store"]))
        return {"dataset_key": report["dataset_key"], "profile_key": report["profile_key"],
                "rows": report["rows"]}

    profile(ingest())


autodp_search()
