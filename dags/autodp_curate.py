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
   bounds, duplicate rate, row-count drift against the last curated run), check the batch
   for drift against the approved search and the previous run (each step's share of rows
   dropped or rewritten; length quantiles, empty and duplicate rates, language mix and
   metadata cardinalities, within the recipe's drift rules) and publish the dataset with its
   data card, validation and drift reports, as a Hugging Face dataset (`README.md` card and
   `data/` Parquet shards);
5. **export**: when the `export_layout` Param asks, also store it as Alpaca or ShareGPT JSONL.

A failed validation, or drift under a recipe's fail policy, fails the run with the readable
report in the task log and publishes nothing, and a retired recipe is refused. Each run's
summary becomes its note (through the `autodp_airflow_api` connection); the `notify` Param's
addresses are e-mailed (the `smtp_default` connection) when a run fails or publishes with
drift; the recipe's page in the review app lists its runs with their drift.

Recipes come from an approval on the review page (Data review in the navigation) or
`autodp recipe approve PUBLISHED_KEY --name NAME --reason WHY`. Scheduled runs take the
recipe, the source and whom to notify from the deployment's `AUTODP_CURATE_RECIPE`,
`AUTODP_CURATE_SOURCE` and `AUTODP_CURATE_NOTIFY`.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import Asset, Param, dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from autodp.curate.validation import ValidationRules
from autodp.execution.shards import MAX_ROUNDS
from autodp.orchestration.notify import CurateNotifier
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
    "notify": Param(os.environ.get("AUTODP_CURATE_NOTIFY", ""), type="string", title="Notify", section=OUTPUTS,
                    description="E-mail addresses (comma-separated) told when the run fails or publishes with drift, "
                    "through the smtp_default connection. Empty: nobody."),
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
    default_args={**TASK_DEFAULTS, "on_failure_callback": [CurateNotifier("failure")]},
)
def autodp_curate():
    @task
    def ingest(params: dict | None = None) -> dict:
        from autodp.curate import loop
        from autodp.ingest.sources import allowed_source
        from autodp.orchestration.support import curate_context

        context = curate_context(params)
        return loop.ingest(context, allowed_source(context.config.source)).to_dict()

    @task
    def plan(run: dict, params: dict | None = None, ti=None) -> list[dict]:
        """Returns the first round's shard tasks (none when the data is applied here)."""
        from autodp.curate import loop
        from autodp.curate.state import CurateRun
        from autodp.orchestration.support import curate_context

        planned = loop.plan(curate_context(params), CurateRun.from_dict(run))
        ti.xcom_push(key="planned", value=planned.but(tasks=()).to_dict())
        return [shard_task.to_dict() for shard_task in planned.tasks]

    @task
    def shard(shard_task: dict, params: dict | None = None, ti=None) -> dict:
        from autodp.curate import loop
        from autodp.execution.shards import Planned, ShardTask
        from autodp.orchestration.support import curate_context

        planned = Planned.from_dict(ti.xcom_pull(task_ids="plan", key="planned"))
        return loop.shard(curate_context(params), planned, ShardTask.from_dict(shard_task))

    @task
    def advance(round_index: int, results: list[dict], params: dict | None = None, ti=None) -> list[dict]:
        """Decides the round's dataset-wide step; returns the next round's shard tasks."""
        from autodp.curate import loop
        from autodp.execution.shards import Planned
        from autodp.orchestration.support import curate_context

        planned = Planned.from_dict(ti.xcom_pull(task_ids="plan", key="planned"))
        advanced = loop.advance(curate_context(params), planned, round_index, list(results))
        ti.xcom_push(key="advanced", value=advanced.but(tasks=()).to_dict())
        return [shard_task.to_dict() for shard_task in advanced.tasks]

    @task(trigger_rule="none_failed")
    def merge(params: dict | None = None, ti=None) -> dict:
        from autodp.curate import loop
        from autodp.execution.shards import Advanced, Planned
        from autodp.orchestration.support import curate_context

        rounds = [ti.xcom_pull(task_ids=f"shard_round_{n}") for n in range(1, MAX_ROUNDS + 1)]
        advances = [ti.xcom_pull(task_ids=f"advance_{n}", key="advanced") for n in range(1, MAX_ROUNDS + 1)]
        return loop.merge(curate_context(params), Planned.from_dict(ti.xcom_pull(task_ids="plan", key="planned")),
                          [list(r) if r else None for r in rounds],
                          [Advanced.from_dict(a) if a else None for a in advances])

    @task(outlets=[CURATED], on_success_callback=[CurateNotifier("published")])
    def publish(run: dict, applied: dict, params: dict | None = None) -> dict:
        from autodp.curate import loop
        from autodp.curate.state import CurateRun
        from autodp.orchestration.support import curate_context

        return loop.publish(curate_context(params), CurateRun.from_dict(run), applied).to_dict()

    @task
    def export(curated: dict, params: dict | None = None) -> dict | None:
        from autodp.curate import loop
        from autodp.curate.state import Curated
        from autodp.orchestration.support import curate_context

        return loop.export(curate_context(params), Curated.from_dict(curated))

    run = ingest()
    tasks = plan(run)
    rounds = []
    for n in range(1, MAX_ROUNDS + 1):
        results = shard.override(task_id=f"shard_round_{n}").expand(shard_task=tasks)
        tasks = advance.override(task_id=f"advance_{n}")(n - 1, results)
        rounds.append(tasks)
    applied = merge()
    rounds >> applied
    export(publish(run, applied))


autodp_curate()
