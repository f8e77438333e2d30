"""
### autodp_curate

Applies an approved recipe to new data for a dataset, validates the output and publishes
it with its data card, daily and whenever the incoming-data Asset is updated.

1. **ingest** the new file (quarantining unusable rows), once the recipe is known and active;
2. **plan**: data of at most `shard_rows` rows is applied here in one task (stored prefixes
   are reused); larger data is split into shards and applied in rounds: **shard_round_N**
   runs the row-local steps on every shard as mapped tasks, **advance_N** decides the step
   that needs the whole dataset (exact and near dedup from per-shard signatures; other
   steps over the gathered shards); rounds the strategy does not need are skipped;
3. **merge** the shards into one dataset with every step's drops and changes;
4. **publish**: validate with great-expectations (schema, non-empty fields, output length
   bounds, duplicate rate, row-count drift against the last curated run) and publish the
   dataset with its data card and validation report, as a Hugging Face dataset
   (`README.md` card and `data/` Parquet shards);
5. **export**: when the `export_layout` Param asks, also store it as Alpaca or ShareGPT JSONL.

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

from autodp.curate import ValidationRules
from autodp.execution.shards import MAX_ROUNDS
from autodp.orchestration.openlineage import task
from autodp.orchestration.support import TASK_DEFAULTS, mapping_param, store_param

INCOMING = Asset("autodp://incoming", extra={"what": "new data for the curated dataset"})
CURATED = Asset("autodp://curated", extra={"what": "datasets curated by an approved recipe"})
RULES = ValidationRules()

# The trigger form's sections; the recipe and the new data stay in the default one, which the form opens with.
VALIDATION, EXECUTION, OUTPUTS = "Validation", "Execution", "Outputs"
PARAMS = {
    "recipe": Param(os.environ.get("AUTODP_CURATE_RECIPE", ""), type="string", title="Recipe",
                    description="Name of an approved recipe (autodp recipe approve)."),
    "source": Param(os.environ.get("AUTODP_CURATE_SOURCE", ""), type="string", title="New data",
                    description="Path or s3:// URL of the new data file, readable from the workers."),
    "mapping": mapping_param(),
    "max_output_chars": Param(RULES.max_output_chars, type="integer", minimum=1, title="Longest output",
                              section=VALIDATION,
                              description="Validation fails when an output is longer (characters)."),
    "max_duplicate_rate": Param(RULES.max_duplicate_rate, type="number", section=VALIDATION, minimum=0, maximum=1,
                                title="Largest duplicate rate",
                                description="Validation fails above this share of duplicate records."),
    "max_row_drift": Param(RULES.max_row_drift, type="number", minimum=0, maximum=10, title="Row-count drift",
                           section=VALIDATION,
                           description="Validation fails when the row count moves more than this fraction "
                           "from the last curated run."),
    "shard_rows": Param(0, type="integer", section=EXECUTION, minimum=0, title="Rows per shard",
                        description="Data above this many rows is applied in shards of this size, each a task of "
                        "its own; 0: the deployment's AUTODP_SHARD_ROWS (250,000 by default)."),
    "export_layout": Param("none", type="string", enum=["none", "alpaca", "sharegpt"], title="Export as JSONL",
                           section=OUTPUTS,
                           description="Also store the curated dataset as JSONL in this layout (exports/<key>/"
                           "train.jsonl), for fine-tuning tools that read Alpaca or ShareGPT files."),
    "store": store_param(section=OUTPUTS),
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
    @task
    def ingest(params: dict | None = None) -> dict:
        from autodp.curate import recipe
        from autodp.ingest import ingest
        from autodp.ingest.sources import allowed_source
        from autodp.orchestration.support import resolve_store

        missing = [name for name in ("recipe", "source") if not params[name]]
        if missing:
            raise ValueError(f"Param {' and '.join(missing)} is empty: give it in the run's conf, or set "
                             f"AUTODP_CURATE_{missing[0].upper()} for scheduled runs")
        store = resolve_store(params["store"])
        recipe(store, params["recipe"])  # refuses an unknown or retired recipe before any work
        return ingest(allowed_source(params["source"]), store, mapping=params["mapping"] or None)

    @task
    def plan(ingested: dict, params: dict | None = None, ti=None) -> list[dict]:
        """Returns the first round's shard tasks (none when the data is applied here)."""
        from autodp.curate import recipe
        from autodp.execution import shards
        from autodp.execution.strategy import Strategy
        from autodp.orchestration.support import resolve_store, task_resources

        store = resolve_store(params["store"])
        strategy = Strategy.from_data(recipe(store, params["recipe"])["strategy"])
        begun = shards.begin(store, ingested["dataset_key"], strategy, task_resources(), params["shard_rows"] or None)
        ti.xcom_push(key="begun", value={k: v for k, v in begun.items() if k != "items"})
        return begun["items"]

    @task
    def shard(item: dict, params: dict | None = None, ti=None) -> dict:
        from autodp.execution import shards
        from autodp.orchestration.support import resolve_store, task_resources

        shard_plan = shards.ShardPlan.from_dict(ti.xcom_pull(task_ids="plan", key="begun")["plan"])
        return shards.run_shard(resolve_store(params["store"]), shard_plan, resources=task_resources(), **item)

    @task
    def advance(round_index: int, results: list[dict], params: dict | None = None, ti=None) -> list[dict]:
        """Decides the round's dataset-wide step; returns the next round's shard tasks."""
        from autodp.execution import shards
        from autodp.orchestration.support import resolve_store, task_resources

        shard_plan = shards.ShardPlan.from_dict(ti.xcom_pull(task_ids="plan", key="begun")["plan"])
        advanced = shards.advance(resolve_store(params["store"]), shard_plan, round_index, list(results),
                                  task_resources())
        ti.xcom_push(key="decision", value=advanced["decision"])
        return advanced["items"]

    @task(trigger_rule="none_failed")
    def merge(params: dict | None = None, ti=None) -> dict:
        from autodp.execution import shards
        from autodp.orchestration.support import resolve_store, task_resources

        rounds = [ti.xcom_pull(task_ids=f"shard_round_{n}") for n in range(1, MAX_ROUNDS + 1)]
        advances = [{"decision": ti.xcom_pull(task_ids=f"advance_{n}", key="decision")}
                    for n in range(1, MAX_ROUNDS + 1)]
        return shards.finish(resolve_store(params["store"]), ti.xcom_pull(task_ids="plan", key="begun"),
                             [list(r) if r else None for r in rounds], advances, task_resources())

    @task(outlets=[CURATED])
    def publish(ingested: dict, applied: dict, params: dict | None = None) -> dict:
        from autodp.curate import ValidationRules
        from autodp.curate.curation import publish_curated
        from autodp.orchestration.support import resolve_store, task_resources

        rules = ValidationRules(max_output_chars=params["max_output_chars"],
                                max_duplicate_rate=params["max_duplicate_rate"], max_row_drift=params["max_row_drift"])
        curated = publish_curated(resolve_store(params["store"]), params["recipe"], params["source"], ingested,
                                  applied, rules, task_resources())
        return {k: curated[k] for k in ("curated_key", "output_dataset_key", "rows", "recipe_key", "shards")}

    @task
    def export(curated: dict, params: dict | None = None) -> dict | None:
        from autodp.exports import export_to_store
        from autodp.orchestration.support import resolve_store

        if params["export_layout"] == "none":
            return None
        return export_to_store(resolve_store(params["store"]), curated["curated_key"], params["export_layout"])

    ingested = ingest()
    items = plan(ingested)
    rounds = []
    for n in range(1, MAX_ROUNDS + 1):
        results = shard.override(task_id=f"shard_round_{n}").expand(item=items)
        items = advance.override(task_id=f"advance_{n}")(n - 1, results)
        rounds.append(items)
    applied = merge()
    rounds >> applied
    export(publish(ingested, applied))


autodp_curate()
