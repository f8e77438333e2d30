"""
### autodp_curate

Applies an approved recipe to new data for a dataset, validates the output and publishes
it with its data card, daily and whenever the incoming-data Asset is updated.

1. **curate**: ingest the new file (quarantining unusable rows), apply the recipe's
   strategy (stored prefixes are reused), validate with great-expectations (schema,
   non-empty fields, output length bounds, duplicate rate, row-count drift against the
   last curated run) and publish the dataset with its data card and validation report,
   as a Hugging Face dataset (`README.md` card and `data/` Parquet shards);
2. **export**: when the `export_layout` Param asks, also store it as Alpaca or ShareGPT JSONL.

A failed validation fails the run with the readable report in the task log and publishes
nothing, and a retired recipe is refused. Recipes come from an approval on the review page
(Data review in the navigation) or `autodp recipe approve PUBLISHED_KEY --name NAME
--reason WHY`. Scheduled runs take the recipe and source from the deployment's
`AUTODP_CURATE_RECIPE` and `AUTODP_CURATE_SOURCE`.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import Asset, Param, dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from autodp.airflow_lineage import task
from autodp.airflow_support import TASK_DEFAULTS, mapping_param, store_param
from autodp.curate import ValidationRules

INCOMING = Asset("autodp://incoming", extra={"what": "new data for the curated dataset"})
CURATED = Asset("autodp://curated", extra={"what": "datasets curated by an approved recipe"})
RULES = ValidationRules()

PARAMS = {
    "recipe": Param(os.environ.get("AUTODP_CURATE_RECIPE", ""), type="string", title="Recipe",
                    description="Name of an approved recipe (autodp recipe approve)."),
    "source": Param(os.environ.get("AUTODP_CURATE_SOURCE", ""), type="string", title="New data",
                    description="Path or s3:// URL of the new data file, readable from the workers."),
    "mapping": mapping_param(),
    "max_output_chars": Param(RULES.max_output_chars, type="integer", minimum=1, title="Longest output",
                              description="Validation fails when an output is longer (characters)."),
    "max_duplicate_rate": Param(RULES.max_duplicate_rate, type="number", minimum=0, maximum=1,
                                title="Largest duplicate rate",
                                description="Validation fails above this share of duplicate records."),
    "max_row_drift": Param(RULES.max_row_drift, type="number", minimum=0, maximum=10, title="Row-count drift",
                           description="Validation fails when the row count moves more than this fraction "
                           "from the last curated run."),
    "export_layout": Param("none", type="string", enum=["none", "alpaca", "sharegpt"], title="Export as JSONL",
                           description="Also store the curated dataset as JSONL in this layout (exports/<key>/"
                           "train.jsonl), for fine-tuning tools that read Alpaca or ShareGPT files."),
    "store": store_param(),
}


@dag(
    dag_id="autodp_curate",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 3 * * *", timezone="UTC"), assets=INCOMING),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["autodp", "curate"],
    params=PARAMS,
    doc_md=__doc__,
    default_args=TASK_DEFAULTS,
)
def autodp_curate():
    @task(outlets=[CURATED])
    def curate(params: dict | None = None) -> dict:
        from autodp.airflow_support import resolve_store, task_resources
        from autodp.curate import ValidationRules, curate
        from autodp.ingest.sources import allowed_source

        missing = [name for name in ("recipe", "source") if not params[name]]
        if missing:
            raise ValueError(f"Param {' and '.join(missing)} is empty: give it in the run's conf, or set "
                             f"AUTODP_CURATE_{missing[0].upper()} for scheduled runs")
        rules = ValidationRules(max_output_chars=params["max_output_chars"],
                                max_duplicate_rate=params["max_duplicate_rate"], max_row_drift=params["max_row_drift"])
        curated = curate(resolve_store(params["store"]), allowed_source(params["source"]), params["recipe"], rules,
                         resources=task_resources(), mapping=params["mapping"] or None)
        return {k: curated[k] for k in ("curated_key", "output_dataset_key", "rows", "recipe_key")}

    @task
    def export(curated: dict, params: dict | None = None) -> dict | None:
        from autodp.airflow_support import resolve_store
        from autodp.exports import export_to_store

        if params["export_layout"] == "none":
            return None
        return export_to_store(resolve_store(params["store"]), curated["curated_key"], params["export_layout"])

    export(curate())


autodp_curate()
