"""Distilling the augmentation model family, as the steps the ``autodp_distill`` DAG runs as
tasks, with the same names: ``seeds``, ``tasks``, then per task of the family ``teacher``,
``filter_teacher_data``, ``train``, ``evaluate`` and ``register``. ``distill`` runs them in
one process (the CLI, the tests and the benchmark).

1. ``seeds``: balanced training and held-out seeds from a stored dataset;
2. ``teacher``: per task, the teacher's outputs on the training seeds;
3. ``filter_teacher_data``: autodp's own pool over the teacher data, a strategy like any
   other (cached and reported per step);
4. ``train``: the filtered records as the student's prompts and answers, and a LoRA adapter
   of the base model on them per task, keyed by data, base and settings;
5. ``evaluate``: the student against the teacher on the held-out seeds;
6. ``register``: the augmentation model entry the operators name as ``model``.

Each step takes the ``DistillContext`` and small typed state (``autodp.distill.state``).
Every step is keyed by its inputs, so a rerun recomputes nothing and a retried task finds
what an earlier try stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autodp.augmentation import registry
from autodp.distill.config import DistillConfig
from autodp.distill.evaluation import evaluate_student
from autodp.distill.seeds import choose_seeds
from autodp.distill.state import Seeds, TaskRun
from autodp.distill.teacher import student_dataset, teacher_data, teacher_identity
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.models.lora import finetune
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore


@dataclass
class DistillContext:
    """What every step works with; a DAG task builds it from its Params and connections."""

    store: ArtifactStore
    config: DistillConfig
    resources: Resources


def seeds(context: DistillContext, dataset_key: str) -> Seeds:
    config = context.config
    return Seeds.from_dict(choose_seeds(context.store, dataset_key, config.seeds, config.held_out, config.clusters,
                                        config.seed, context.resources))


def tasks(context: DistillContext) -> list[TaskRun]:
    return [TaskRun(task) for task in context.config.tasks]


def teacher(context: DistillContext, chosen: Seeds, run: TaskRun) -> TaskRun:
    return run.but(teacher=teacher_data(context.store, chosen.seeds_key, run.task, context.config.per_seed,
                                        context.config.seed, context.resources))


def filter_teacher_data(context: DistillContext, chosen: Seeds, run: TaskRun) -> TaskRun:
    applied = apply_strategy(run.teacher["teacher_key"], Strategy.from_data(list(context.config.filter)),
                             context.store, context.resources)
    if not applied["rows_out"]:
        raise ValueError(f"the filter kept none of the {applied['rows_in']} teacher records for "
                         f"{run.task}; ask for more seeds or loosen the filter")
    return run.but(filter={"filtered_key": applied["output_key"], "rows_in": applied["rows_in"],
                           "rows_out": applied["rows_out"],
                           "steps": [{k: s[k] for k in ("operator", "rows_in", "rows_out", "dropped", "changed",
                                                        "cache")} for s in applied["steps"]]})


def train(context: DistillContext, chosen: Seeds, run: TaskRun) -> TaskRun:
    trained_on = student_dataset(context.store, run.filter["filtered_key"], run.task, context.resources.settings)
    adapter = finetune(trained_on, context.store, context.config.base, context.config.lora, context.resources.settings)
    return run.but(adapter={**adapter, "student_data_key": trained_on})


def evaluate(context: DistillContext, chosen: Seeds, run: TaskRun) -> TaskRun:
    return run.but(evaluation=evaluate_student(context.store, chosen.held_out_key, run.task,
                                               run.adapter["adapter_key"], context.config.base, context.config.seed,
                                               context.resources))


def register(context: DistillContext, chosen: Seeds, run: TaskRun) -> TaskRun:
    config = context.config
    entry = registry.register(
        context.store, name=config.name, task=run.task, base=config.base, adapter_key=run.adapter["adapter_key"],
        teacher=teacher_identity(context.resources),
        data={"dataset": chosen.dataset_key, "seeds": chosen.seeds_key, "held_out": chosen.held_out_key,
              "teacher": run.teacher["teacher_key"], "filtered": run.filter["filtered_key"],
              "student": run.adapter["student_data_key"]},
        scores=headline(run.evaluation), lora=config.lora.material())
    return run.but(entry=entry)


TASK_STEPS: tuple[Callable[[DistillContext, Seeds, TaskRun], TaskRun], ...] = (
    teacher, filter_teacher_data, train, evaluate, register)


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
    context = DistillContext(store, config or DistillConfig(), (resources or Resources()).using(store))
    say = progress or (lambda message: None)
    chosen = seeds(context, dataset_key)
    say(f"seeds: {chosen.seeds} for training, {chosen.held_out} held out, over {chosen.clusters} clusters")
    done = {}
    for run in tasks(context):
        for step in TASK_STEPS:
            run = step(context, chosen, run)
            say(f"{run.task}: {described(step, run)}")
        done[run.task] = run.to_dict()
    return {"name": context.config.name, "dataset_key": dataset_key, "seeds": chosen.to_dict(), "tasks": done,
            "config": context.config.to_dict()}


def described(step: Callable[..., TaskRun], run: TaskRun) -> str:
    """One line on what a step just did for a task."""
    if step is teacher:
        t = run.teacher
        return f"teacher wrote {t['records']} records from {t['calls']} calls (not usable: {t['rejected'] or 'none'})"
    if step is filter_teacher_data:
        return f"the filter kept {run.filter['rows_out']} of {run.filter['rows_in']}"
    if step is train:
        a = run.adapter
        return f"adapter {a['adapter_key']} ({a['steps']} steps, loss {a['loss_first']} -> {a['loss_last']})"
    if step is evaluate:
        v = run.evaluation["validity"]
        return f"validity {v['student']['share']} (teacher {v['teacher']['share']})"
    return f"registered {run.entry['name']!r} ({run.entry['key']})"
