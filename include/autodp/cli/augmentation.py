"""The augmentation model family: distil it from a teacher, list what is registered."""

from __future__ import annotations

import argparse
from typing import Any

from autodp.cli.common import (
    dataset_key_of,
    ingest_arguments,
    json_option,
    local_llm,
    print_json,
    store_of,
    store_option,
)


def register(commands) -> None:
    """Add this module's commands to ``autodp``'s subcommands."""
    distiller = commands.add_parser("distill", help="distil the augmentation model family from a teacher: balanced "
                                    "seeds, teacher data, the pool's filter, a LoRA per task, evaluation, registry")
    ingest_arguments(distiller)
    _distill_arguments(distiller)
    json_option(distiller)
    distiller.set_defaults(run=_distill)

    augmenters = commands.add_parser("augmentation-models", help="the registered augmentation models, newest first")
    store_option(augmenters)
    json_option(augmenters)
    augmenters.set_defaults(run=_augmentation_models)


def _distill_arguments(parser: argparse.ArgumentParser) -> None:
    """Distillation's settings, named as the autodp_distill DAG's Params, defaults from DistillConfig."""
    from autodp.distill.config import DistillConfig

    defaults = DistillConfig()
    parser.add_argument("--name", default=defaults.name, help="the family's name, which operators give as `model` "
                        "(default %(default)s)")
    parser.add_argument("--tasks", default=",".join(defaults.tasks), help="comma-separated (default: all three)")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="training seeds (default %(default)s)")
    parser.add_argument("--held-out", type=int, default=defaults.held_out,
                        help="held-out seeds to evaluate on (default %(default)s)")
    parser.add_argument("--clusters", type=int, default=defaults.clusters,
                        help="task types to balance the seeds over (default %(default)s)")
    parser.add_argument("--per-seed", type=int, default=defaults.per_seed,
                        help="teacher outputs per seed for the expansion tasks (default %(default)s)")
    parser.add_argument("--model", default=defaults.base,
                        help="student base model: smollm2, tiny, or a Hugging Face directory (default %(default)s)")
    parser.add_argument("--steps", type=int, default=defaults.lora.steps, help="LoRA steps per task (default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed)


def distill_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"name": args.name, "tasks": [t.strip() for t in args.tasks.split(",") if t.strip()], "seeds": args.seeds,
            "held_out": args.held_out, "clusters": args.clusters, "per_seed": args.per_seed, "model": args.model,
            "lora_steps": args.steps, "seed": args.seed}


def _distill(args: argparse.Namespace) -> int:
    from autodp.distill.config import DistillConfig
    from autodp.distill.loop import distill

    config = DistillConfig.from_params(distill_params(args))
    store = store_of(args)
    dataset_key = dataset_key_of(args, store, args.source)
    progress = None if args.json else (lambda message: print(f"  {message}", flush=True))
    with local_llm():
        result = distill(dataset_key, store, config, progress=progress)
    if args.json:
        print_json(result)
        return 0
    _show_distilled(result)
    return 0


def _show_distilled(result: dict[str, Any]) -> None:
    print(f"{'task':<24} {'valid':>6} {'teacher':>8} {'div.seed':>9} {'div.out':>8} {'win vs teacher':>22} "
          f"{'imitation dNLL':>24} {'time ratio':>10}")
    for task, done in result["tasks"].items():
        scores = done["evaluation"]
        judge, imitated = scores["judge"], scores["imitation"]["delta_nll"]
        win = (f"{judge['win_rate']:.3f} [{judge['ci95'][0]:.2f},{judge['ci95'][1]:.2f}]"
               + ("" if judge["usable"] else " unusable"))
        dnll = f"{imitated['mean']:+.3f} [{imitated['ci95'][0]:+.2f},{imitated['ci95'][1]:+.2f}]" if imitated else "-"
        diversity = scores["diversity"]["student"]
        print(f"{task:<24} {scores['validity']['student']['share']:>6.2f} {scores['validity']['teacher']['share']:>8.2f} "
              f"{figure(diversity['from_seed']):>9} {figure(diversity['between_outputs']):>8} {win:>22} {dnll:>24} "
              f"{figure(scores['cost']['student_to_teacher_time']):>10}")
    for task, done in result["tasks"].items():
        entry = done["entry"]
        print(f"registered {entry['name']!r} for {task}: {entry['key']} (use {{\"{task}\": {{\"model\": "
              f"\"{entry['name']}\"}}}})")


def _augmentation_models(args: argparse.Namespace) -> int:
    from autodp.augmentation.registry import entries

    found = entries(store_of(args))
    if args.json:
        print_json(found)
        return 0
    if not found:
        print("no augmentation models registered (autodp distill registers them)")
    for entry in found:
        scores = entry["scores"]
        print(f"{entry['name']:<20} {entry['task']:<24} {entry['key']}  base {entry['base']}, validity "
              f"{scores['validity']}, win rate vs teacher {scores['win_rate_vs_teacher']}"
              f"{'' if scores['judge_usable'] else ' (judge unusable)'}, {entry['created_at']}")
    return 0


def figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
