"""Distilling the augmentation model family, one step after another; the CLI runs
``distill``, the ``autodp_distill`` DAG runs the same steps as tasks (one per task of the
family where it can).

1. ``seeds``: balanced training and held-out seeds from a stored dataset;
2. ``teacher``: per task, the teacher's outputs on the training seeds;
3. ``filter``: autodp's own pool over the teacher data, a strategy like any other
   (cached and reported per step);
4. ``train``: the filtered records as the student's prompts and answers, and a LoRA adapter
   of the base model on them per task, keyed by data, base and settings;
5. ``evaluate``: the student against the teacher on the held-out seeds;
6. ``register``: the augmentation model entry the operators name as ``model``.

Every step is keyed by its inputs, so a rerun recomputes nothing and a retried task
finds what an earlier try stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from autodp.augmentation.evaluation import evaluate_student
from autodp.augmentation.registry import register
from autodp.augmentation.seeds import choose_seeds
from autodp.augmentation.teacher import student_dataset, teacher_data, teacher_identity
from autodp.augmentation.templates import TASKS, template
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.models.lora import finetune
from autodp.resources import Resources
from autodp.search.config import LoraSettings
from autodp.store import ArtifactStore

# The teacher data's filter: normalise, drop empty and over-long outputs, exact and near
# duplicates, other languages, outputs unrelated to their seed, and what the quality
# scorer's rules and relevance margin call low quality (score below 0.5).
FILTER = ("normalize_text", "drop_empty_output", "exact_dedup", "near_dedup",
          {"length_bounds": {"min_output_chars": 12, "max_output_chars": 4000}}, "language_filter",
          {"relevance_filter": {"min_similarity": 0.2}},
          {"quality_score_filter": {"scorer": "signals", "threshold": 5.0}})


@dataclass(frozen=True)
class DistillConfig:
    name: str = "autodp-augment"  # the family's name: operators use ``model: <name>``
    tasks: tuple[str, ...] = TASKS
    seeds: int = 120  # training seeds
    held_out: int = 24  # held-out seeds the students are evaluated on
    clusters: int = 8  # task types the seeds are balanced over
    per_seed: int = 2  # teacher outputs per seed for the expansion tasks
    base: str = "smollm2"
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(steps=80, learning_rate=5e-4))
    filter: tuple[Any, ...] = FILTER
    seed: int = 0

    def __post_init__(self) -> None:
        for task in self.tasks:
            template(task)  # fails naming an unknown task
        if not self.tasks:
            raise ValueError("distill needs at least one task")
        for name, least in (("seeds", 2), ("held_out", 1), ("clusters", 1), ("per_seed", 1)):
            if getattr(self, name) < least:
                raise ValueError(f"distill {name} is {getattr(self, name)}; it must be at least {least}")
        Strategy.from_data(list(self.filter))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DistillConfig:
        """From the names the DAG's Params and the CLI share (``model``, ``lora_steps`` and the
        fields' own names); names that are not distillation's (``source``, ``store``) are ignored."""
        own = {f.name for f in fields(cls)} - {"lora", "filter"}
        values = {("base" if name == "model" else name): value for name, value in params.items()
                  if ("base" if name == "model" else name) in own}
        if "tasks" in values:
            values["tasks"] = tuple(values["tasks"])
        lora = cls().lora
        return cls(**values, lora=replace(lora, steps=params["lora_steps"]) if params.get("lora_steps") else lora)


def seeds(store: ArtifactStore, dataset_key: str, config: DistillConfig, resources: Resources) -> dict[str, Any]:
    return choose_seeds(store, dataset_key, config.seeds, config.held_out, config.clusters, config.seed, resources)


# Each per-task step takes what the earlier ones found for the task (``done``) and returns
# it with its own result added: the state a DAG task passes to the next through XCom.

def teacher(store: ArtifactStore, chosen: dict[str, Any], done: dict[str, Any], config: DistillConfig,
            resources: Resources) -> dict[str, Any]:
    return {**done, "teacher": teacher_data(store, chosen["seeds_key"], done["task"], config.per_seed, config.seed,
                                            resources)}


def filtered(store: ArtifactStore, chosen: dict[str, Any], done: dict[str, Any], config: DistillConfig,
             resources: Resources) -> dict[str, Any]:
    applied = apply_strategy(done["teacher"]["teacher_key"], Strategy.from_data(list(config.filter)), store, resources)
    if not applied["rows_out"]:
        raise ValueError(f"the filter kept none of the {applied['rows_in']} teacher records for "
                         f"{done['task']}; ask for more seeds or loosen the filter")
    return {**done, "filter": {"filtered_key": applied["output_key"], "rows_in": applied["rows_in"],
                               "rows_out": applied["rows_out"],
                               "steps": [{k: s[k] for k in ("operator", "rows_in", "rows_out", "dropped", "changed",
                                                            "cache")} for s in applied["steps"]]}}


def train(store: ArtifactStore, chosen: dict[str, Any], done: dict[str, Any], config: DistillConfig,
          resources: Resources) -> dict[str, Any]:
    trained_on = student_dataset(store, done["filter"]["filtered_key"], done["task"], resources.settings)
    adapter = finetune(trained_on, store, config.base, config.lora, resources.settings)
    return {**done, "adapter": {**adapter, "student_data_key": trained_on}}


def evaluate(store: ArtifactStore, chosen: dict[str, Any], done: dict[str, Any], config: DistillConfig,
             resources: Resources) -> dict[str, Any]:
    return {**done, "evaluation": evaluate_student(store, chosen["held_out_key"], done["task"],
                                                   done["adapter"]["adapter_key"], config.base, config.seed,
                                                   resources)}


def registered(store: ArtifactStore, chosen: dict[str, Any], done: dict[str, Any], config: DistillConfig,
               resources: Resources) -> dict[str, Any]:
    entry = register(store, name=config.name, task=done["task"], base=config.base,
                     adapter_key=done["adapter"]["adapter_key"], teacher=teacher_identity(resources),
                     data={"dataset": chosen["dataset_key"], "seeds": chosen["seeds_key"],
                           "held_out": chosen["held_out_key"], "teacher": done["teacher"]["teacher_key"],
                           "filtered": done["filter"]["filtered_key"], "student": done["adapter"]["student_data_key"]},
                     scores=headline(done["evaluation"]), lora=asdict(config.lora))
    return {**done, "entry": entry}


TASK_STEPS = (teacher, filtered, train, evaluate, registered)


def headline(scores: dict[str, Any]) -> dict[str, Any]:
    """The figures an entry carries (the full evaluation is stored under its key)."""
    judge = scores["judge"]
    return {"evaluation_key": scores["evaluation_key"], "held_out_seeds": scores["held_out_seeds"],
            "validity": scores["validity"]["student"]["share"], "teacher_validity": scores["validity"]["teacher"]["share"],
            "diversity_from_seed": scores["diversity"]["student"]["from_seed"],
            "win_rate_vs_teacher": judge["win_rate"], "win_rate_ci95": judge["ci95"], "judge_usable": judge["usable"],
            "imitation_delta_nll": (scores["imitation"]["delta_nll"] or {}).get("mean"),
            "student_to_teacher_time": scores["cost"]["student_to_teacher_time"]}


def distill(dataset_key: str, store: ArtifactStore, config: DistillConfig | None = None,
            resources: Resources | None = None, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every step for every task of the family; the entries registered and each task's figures."""
    config = config or DistillConfig()
    resources = (resources or Resources()).using(store)
    say = progress or (lambda message: None)
    chosen = seeds(store, dataset_key, config, resources)
    say(f"seeds: {chosen['seeds']} for training, {chosen['held_out']} held out, over {chosen['clusters']} clusters")
    tasks = {}
    for task in config.tasks:
        done: dict[str, Any] = {"task": task}
        for step in TASK_STEPS:
            done = step(store, chosen, done, config, resources)
            say(f"{task}: {described(step.__name__, done)}")
        tasks[task] = done
    return {"name": config.name, "dataset_key": dataset_key, "seeds": chosen, "tasks": tasks,
            "config": {**asdict(config), "tasks": list(config.tasks), "filter": list(config.filter)}}


def described(step: str, done: dict[str, Any]) -> str:
    """One line on what a step just did for a task."""
    if step == "teacher":
        t = done["teacher"]
        return f"teacher wrote {t['records']} records from {t['calls']} calls (not usable: {t['rejected'] or 'none'})"
    if step == "filtered":
        return f"the filter kept {done['filter']['rows_out']} of {done['filter']['rows_in']}"
    if step == "train":
        a = done["adapter"]
        return f"adapter {a['adapter_key']} ({a['steps']} steps, loss {a['loss_first']} -> {a['loss_last']})"
    if step == "evaluate":
        v = done["evaluation"]["validity"]
        return f"validity {v['student']['share']} (teacher {v['teacher']['share']})"
    return f"registered {done['entry']['name']!r} ({done['entry']['key']})"
