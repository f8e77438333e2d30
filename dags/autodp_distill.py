"""
### autodp_distill

Distils the augmentation model family from a teacher: small models that expand
instructions, refine them, and expand instruction-response pairs, which the generation and
refinement operators then run by name (`"model": "<name>"`) instead of a large model.

1. **ingest** the seed file (Alpaca or Self-Instruct `seed_tasks.jsonl` style, or any
   layout with a field mapping; or take a stored dataset by its key) and choose **seeds**: clusters of their embeddings are the
   task types, and seeds are taken from each in turn; some are held out for evaluation;
2. per task of the family, as mapped tasks: the **teacher** (the `autodp_llm_teacher`
   connection; the local server by default) writes outputs with versioned prompt templates;
   autodp's own pool **filter**s them; **train** fits a LoRA adapter of the base model;
   **evaluate** compares the student with the teacher on the held-out seeds (validity,
   diversity, the judge's win rate with its interval, imitation ΔNLL, cost); **register**
   stores the augmentation model entry.

Training and evaluation run in the pool and queue named by `AUTODP_GPU_POOL` and
`AUTODP_GPU_QUEUE`. Every step is stored under a content key: a cleared or retried task
redoes nothing stored. XCom carries keys, counts and figures, never records.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from airflow.sdk import Param, dag

from autodp.augmentation.templates import TASKS
from autodp.distill.config import DistillConfig
from autodp.orchestration.openlineage import task
from autodp.orchestration.support import TASK_DEFAULTS, mapping_param, store_param

GPU = {"pool": os.environ.get("AUTODP_GPU_POOL", "default_pool"),
       "queue": os.environ.get("AUTODP_GPU_QUEUE", "default")}
DEFAULTS = DistillConfig()

# The trigger form's sections; the seed data, the family's name and its tasks stay in the default one.
SEEDS, MODELS, OUTPUTS = "Seeds", "Models", "Outputs"
PARAMS = {
    "source": Param("", type="string", minLength=1, title="Seed dataset",
                    description="Path or s3:// URL of the seed instructions (JSONL, JSON array, Parquet or CSV), "
                    "readable from the workers, or the key of a dataset in the store."),
    "mapping": mapping_param(),
    "name": Param(DEFAULTS.name, type="string", pattern=r"^\S+$", title="Family name",
                  description="Operators name the registered models by it: {\"model\": \"<name>\"}."),
    "tasks": Param(list(DEFAULTS.tasks), type="array", minItems=1, uniqueItems=True,
                   items={"type": "string", "enum": list(TASKS)}, title="Tasks",
                   description="Which members of the family to distil."),
    "seeds": Param(DEFAULTS.seeds, type="integer", section=SEEDS, minimum=2, maximum=100_000, title="Training seeds",
                   description="Seeds the teacher annotates for the students to learn from."),
    "held_out": Param(DEFAULTS.held_out, type="integer", minimum=1, maximum=10_000, title="Held-out seeds",
                      section=SEEDS,
                      description="Seeds the students are evaluated on against the teacher."),
    "clusters": Param(DEFAULTS.clusters, type="integer", section=SEEDS, minimum=1, maximum=1000, title="Task types",
                      description="Clusters of the seeds' embeddings that the seeds are balanced over."),
    "per_seed": Param(DEFAULTS.per_seed, type="integer", section=SEEDS, minimum=1, maximum=20, title="Outputs per seed",
                      description="Teacher outputs per seed for the two expansion tasks."),
    "model": Param(DEFAULTS.base, type="string", section=MODELS, minLength=1, title="Student base model",
                   description="smollm2, tiny (tests), or a Hugging Face model directory on the workers."),
    "lora_steps": Param(DEFAULTS.lora.steps, type="integer", minimum=1, maximum=100_000, title="LoRA steps",
                        section=MODELS,
                        description="Training steps per task (batch 8)."),
    "seed": Param(DEFAULTS.seed, type="integer", section=SEEDS, minimum=0, title="Seed",
                  description="Clustering, seed order, teacher sampling and training seed."),
    "store": store_param(section=OUTPUTS),
}


@dag(
    dag_id="autodp_distill",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["autodp", "distill"],
    params=PARAMS,
    doc_md=__doc__,
    default_args=TASK_DEFAULTS,
)
def autodp_distill():
    @task
    def ingest(params: dict | None = None) -> dict:
        from autodp.artifacts import DATASETS
        from autodp.hashing import KEY_CHARS
        from autodp.ingest import ingest
        from autodp.ingest.sources import allowed_source
        from autodp.orchestration.support import resolve_store

        store = resolve_store(params["store"])
        if re.fullmatch(f"[0-9a-f]{{{KEY_CHARS}}}", params["source"]) and store.has(DATASETS, params["source"]):
            return {"dataset_key": params["source"]}
        return ingest(allowed_source(params["source"]), store, mapping=params["mapping"] or None)

    @task
    def seeds(ingested: dict, params: dict | None = None) -> dict:
        from autodp.distill import loop
        from autodp.orchestration.support import distill_context

        return loop.seeds(distill_context(params), ingested["dataset_key"]).to_dict()

    @task
    def tasks(params: dict | None = None) -> list[dict]:
        from autodp.distill import loop
        from autodp.orchestration.support import distill_context

        return [run.to_dict() for run in loop.tasks(distill_context(params))]

    @task
    def teacher(chosen: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.distill import loop
        from autodp.distill.state import Seeds, TaskRun
        from autodp.orchestration.support import distill_context

        return loop.teacher(distill_context(params), Seeds.from_dict(chosen), TaskRun.from_dict(run)).to_dict()

    @task
    def filter_teacher_data(chosen: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.distill import loop
        from autodp.distill.state import Seeds, TaskRun
        from autodp.orchestration.support import distill_context

        return loop.filter_teacher_data(distill_context(params), Seeds.from_dict(chosen),
                                        TaskRun.from_dict(run)).to_dict()

    @task(**GPU)
    def train(chosen: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.distill import loop
        from autodp.distill.state import Seeds, TaskRun
        from autodp.orchestration.support import distill_context

        return loop.train(distill_context(params), Seeds.from_dict(chosen), TaskRun.from_dict(run)).to_dict()

    @task(**GPU)
    def evaluate(chosen: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.distill import loop
        from autodp.distill.state import Seeds, TaskRun
        from autodp.orchestration.support import distill_context

        return loop.evaluate(distill_context(params), Seeds.from_dict(chosen), TaskRun.from_dict(run)).to_dict()

    @task
    def register(chosen: dict, run: dict, params: dict | None = None) -> dict:
        from autodp.distill import loop
        from autodp.distill.state import Seeds, TaskRun
        from autodp.orchestration.support import distill_context

        return loop.register(distill_context(params), Seeds.from_dict(chosen), TaskRun.from_dict(run)).to_dict()

    chosen = seeds(ingest())
    runs = tasks()
    for step in (teacher, filter_teacher_data, train, evaluate, register):
        runs = step.partial(chosen=chosen).expand(run=runs)


autodp_distill()
