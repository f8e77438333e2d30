"""The augmentation model family, distilled end to end on this machine.

    make bench-distill    # or: .venv/bin/python bench/distill.py [--seeds 80 --held-out 24 --steps 60 ...]

Seeds: the 175 Alpaca seed tasks in ../shared (``seed_tasks.jsonl``), balanced over
clusters of their embeddings. Teacher: the local SmolLM2-135M-Instruct server. Student: the
same base (SmolLM2-135M-Instruct, transformers) with one LoRA adapter per task. A 135M
teacher bounds the quality reachable here: the student can at best imitate it, so the win
rate against the teacher says how close the imitation is, not how good either model is.

Printed per task: teacher records and what the filter kept; the student's validity beside
the teacher's; diversity (cosine distance from the seed, and between outputs); the judge's
win rate of the student against the teacher with a bootstrap 95% interval (and whether
the judge is usable: a judge that prefers the first-shown answer nearly always is not);
imitation ΔNLL (base minus student, per token of the teacher's held-out outputs) with its
interval; cost of each model on this machine and the student's time over the teacher's.

Artifacts persist under $AUTODP_HOME/bench-distill, so a second run only re-prints.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

from workspace import workspace  # bench/workspace.py

from autodp.augmentation.templates import TASKS
from autodp.distill.config import DistillConfig
from autodp.distill.loop import distill
from autodp.ingest import ingest
from autodp.llm.endpoints import LOCAL_HOST, LOCAL_MODEL, LOCAL_PORT, ROLES, Endpoint
from autodp.llm.server import LocalServer, is_serving
from autodp.operators.resources import Resources

REPO = Path(__file__).resolve().parents[1]
SEED_TASKS = REPO.parent / "shared" / "datasets" / "alpaca" / "seed_tasks.jsonl"


def main() -> None:
    defaults = DistillConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=80)
    parser.add_argument("--held-out", type=int, default=24)
    parser.add_argument("--per-seed", type=int, default=2)
    parser.add_argument("--clusters", type=int, default=defaults.clusters)
    parser.add_argument("--steps", type=int, default=60, help="LoRA steps per task (batch 8)")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args()
    if not SEED_TASKS.is_file():
        raise SystemExit(f"{SEED_TASKS} is missing: the benchmark needs ../shared/datasets")

    folder, settings, store = workspace("bench-distill")
    config = DistillConfig(name="bench-family", tasks=tuple(t.strip() for t in args.tasks.split(",")),
                           seeds=args.seeds, held_out=args.held_out, clusters=args.clusters, per_seed=args.per_seed,
                           base=args.model, lora=replace(defaults.lora, steps=args.steps))
    dataset_key = ingest(str(SEED_TASKS), store)["dataset_key"]
    base_url = f"http://{LOCAL_HOST}:{LOCAL_PORT}/v1"  # a fixed port: the teacher's identity is part of every key
    server = nullcontext() if is_serving(base_url) else LocalServer(port=LOCAL_PORT, log_path=folder / "llm.log")
    started = time.perf_counter()
    with server:
        endpoints = {role: Endpoint(role, base_url, LOCAL_MODEL, trusted=True) for role in ROLES}
        result = distill(dataset_key, store, config, Resources(settings=settings, endpoints=endpoints),
                         progress=lambda message: print(f"  {message}", flush=True))
    report(result, config, time.perf_counter() - started)


def report(result: dict, config: DistillConfig, seconds: float) -> None:
    seeds = result["seeds"]
    print(f"\nseeds: {seeds['seeds']} for training, {seeds['held_out']} held out, from "
          f"{seeds['distinct_instructions']} Alpaca seed tasks over {seeds['clusters']} clusters; teacher and judge "
          f"{LOCAL_MODEL} (llama.cpp), student {config.base} + LoRA ({config.lora.steps} steps x "
          f"{config.lora.batch_size}, lr {config.lora.learning_rate})")
    print(f"\n{'task':<24}{'teacher recs':>13}{'kept':>6}{'loss':>15}")
    for task, done in result["tasks"].items():
        a = done["adapter"]
        print(f"{task:<24}{done['teacher']['records']:>13}{done['filter']['rows_out']:>6}"
              f"{a['loss_first']:>7.2f} ->{a['loss_last']:>5.2f}")
    print(f"\n{'task':<24}{'validity s/t':>13}{'from seed s/t':>15}{'between s/t':>14}"
          f"{'win vs teacher [95% CI]':>26}{'first shown':>12}  imitation dNLL [95% CI]")
    for task, done in result["tasks"].items():
        e = done["evaluation"]
        v, d, j, m = e["validity"], e["diversity"], e["judge"], e["imitation"]["delta_nll"]
        win = f"{j['win_rate']:.3f} [{j['ci95'][0]:.2f}, {j['ci95'][1]:.2f}]" + ("" if j["usable"] else "*")
        dnll = f"{m['mean']:+.3f} [{m['ci95'][0]:+.3f}, {m['ci95'][1]:+.3f}]" if m else "-"
        print(f"{task:<24}{_pair(v['student']['share'], v['teacher']['share']):>13}"
              f"{_pair(d['student']['from_seed'], d['teacher']['from_seed']):>15}"
              f"{_pair(d['student']['between_outputs'], d['teacher']['between_outputs']):>14}{win:>26}"
              f"{_num(j['first_shown_preferred']):>12}  {dnll}")
    unusable = [done["evaluation"]["judge"] for done in result["tasks"].values()
                if not done["evaluation"]["judge"]["usable"]]
    if unusable:
        print(f"  * judge unusable: {unusable[0]['unusable_reason']}")
    print(f"\n{'task':<24}{'teacher tok/s':>14}{'s/1000':>9}{'student tok/s':>15}{'s/1000':>9}{'student/teacher':>17}")
    for task, done in result["tasks"].items():
        c = done["evaluation"]["cost"]
        print(f"{task:<24}{_num(c['teacher']['tokens_per_s']):>14}{_num(c['teacher']['s_per_1000_records']):>9}"
              f"{_num(c['student']['tokens_per_s']):>15}{_num(c['student']['s_per_1000_records']):>9}"
              f"{_num(c['student_to_teacher_time']):>17}")
    print("  teacher: llama.cpp server (4-bit GGUF); student: transformers + peft in process (fp32 on CPU)")
    keys = ", ".join(f"{task} {done['entry']['key'][:12]}" for task, done in result["tasks"].items())
    print(f"\nregistered: {keys} as {config.name!r}; this run {seconds:.0f} s (stored steps are reused)")


def _pair(student, teacher) -> str:
    return f"{_num(student)}/{_num(teacher)}"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
