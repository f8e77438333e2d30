"""A distilled student against its teacher, on held-out seeds neither was trained on.

- validity: the share of outputs that parse, are non-empty and do not copy the seed;
- diversity: the mean cosine distance (MiniLM) of each output's instruction from its
  seed's, and between the outputs' instructions;
- win rate against the teacher: the judge endpoint compares the two outputs for each seed
  in both presentation orders (``conversations.pairwise_choices``); the student wins a seed when
  preferred in both, loses when the teacher is, ties otherwise. An invalid output loses to a
  valid one. A judge that prefers the first-shown answer nearly always is marked unusable
  (``judge_usability``), as in the search;
- imitation: ΔNLL = NLL(base) - NLL(student) per token of the teacher's held-out outputs,
  with a bootstrap interval: positive when distillation moved the base towards the teacher
  on seeds it never saw. It needs no judge;
- cost: tokens/s and seconds per 1,000 records of each model on this machine (the teacher
  through its endpoint, the student in process), and their ratio.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from autodp.artifacts import RESULT_FILE, SEARCH_STEPS
from autodp.augmentation.student import Student
from autodp.augmentation.templates import student_answer, student_prompt, student_target, template
from autodp.distill.seeds import read_records
from autodp.distill.teacher import (
    Unusable,
    checked,
    generation_cost,
    teacher_client,
    teacher_identity,
    usable,
)
from autodp.hashing import content_key
from autodp.llm import conversations
from autodp.operators.resources import Resources
from autodp.search.evaluation import Example, judge_usability, paired_delta, reference_nll, win_rate
from autodp.store import ArtifactStore
from autodp.text import prompt_text

EVALUATION_VERSION = "1"
WHAT_IS_JUDGED = {"instruction_expansion": "new instruction", "instruction_refinement": "rewritten instruction",
                  "pair_expansion": "new instruction and response"}


def evaluate_student(store: ArtifactStore, held_out_key: str, task: str, adapter_key: str, base: str,
                     seed: int = 0, resources: Resources | None = None) -> dict[str, Any]:
    """The student's figures against the teacher, stored under the inputs' key."""
    resources = (resources or Resources()).using(store)
    chosen = template(task)
    judge = resources.endpoints["judge"]
    material = {"held_out": held_out_key, "task": task, "adapter": adapter_key, "base": base, "seed": seed,
                "template": chosen.identity(), "teacher": teacher_identity(resources),
                "judge": {"base_url": judge.base_url, "model": judge.model}}
    key = content_key("augmentation-evaluation", EVALUATION_VERSION, material)
    if store.has(SEARCH_STEPS, key):
        return store.read_json(SEARCH_STEPS, key, RESULT_FILE)
    seeds = read_records(store, held_out_key, resources.settings)
    prompts = [prompt_text(s) for s in seeds]

    client = teacher_client(resources)
    started = time.perf_counter()
    answers = client.chat_many([chosen.request(p, s["output"], seed=seed + s["source_row"])
                                for p, s in zip(prompts, seeds)])
    teacher_seconds = time.perf_counter() - started
    teacher_usage = client.usage.as_dict()
    client.close()
    teacher = [usable(task, s, a) for s, a in zip(seeds, answers)]

    student = Student(store, adapter_key, base, resources.settings)
    student.load()  # loading is not generation: it stays out of the cost
    texts = student.generate([student_prompt(task, p, s["output"]) for p, s in zip(prompts, seeds)],
                             max_new_tokens=chosen.max_tokens, temperature=chosen.temperature, seed=seed)
    students = [checked(student_answer(task, t), p) for t, p in zip(texts, prompts)]

    result = {
        "evaluation_key": key, "task": task, "held_out_seeds": len(seeds),
        "validity": {"student": _validity(students), "teacher": _validity(teacher)},
        "diversity": {"student": diversity(prompts, students, resources),
                      "teacher": diversity(prompts, teacher, resources)},
        "judge": judged(prompts, teacher, students, task, resources, seed),
        "imitation": imitation(student, prompts, seeds, teacher, task),
        "cost": cost(teacher_usage["completion_tokens"], teacher_seconds, len(seeds) - teacher_usage["cached"],
                     student.usage),
    }
    store.publish_json(SEARCH_STEPS, key, {RESULT_FILE: result}, summary={"evaluation_key": key, "task": task},
                       provenance={"step": "augmentation_evaluation", "version": EVALUATION_VERSION, **material})
    return result


def diversity(prompts: list[str], outputs: list[Any], resources: Resources) -> dict[str, float | None]:
    valid = [(p, _instruction(o)) for p, o in zip(prompts, outputs) if _valid(o)]
    if not valid:
        return {"from_seed": None, "between_outputs": None}
    seeds = resources.embedder.encode([p for p, _ in valid])
    made = resources.embedder.encode([o for _, o in valid])
    from_seed = float(np.mean(1.0 - np.sum(seeds * made, axis=1)))
    if len(valid) < 2:
        return {"from_seed": round(from_seed, 4), "between_outputs": None}
    similarity = made @ made.T
    upper = similarity[np.triu_indices(len(valid), k=1)]
    return {"from_seed": round(from_seed, 4), "between_outputs": round(float(np.mean(1.0 - upper)), 4)}


def judged(prompts: list[str], teacher: list[Any], students: list[Any], task: str, resources: Resources,
           seed: int) -> dict[str, Any]:
    """The student's win rate against the teacher; the judge sees the pairs where both are valid."""
    both = [i for i, (t, s) in enumerate(zip(teacher, students)) if _valid(t) and _valid(s)]
    client = resources.client("judge", keep_going=True)
    client.endpoint.require_trusted("the LLM judge")
    shown = [(prompts[i], _shown(teacher[i]), _shown(students[i])) for i in both]
    choices = conversations.pairwise_choices(client, shown, what=WHAT_IS_JUDGED[task])
    client.close()
    verdicts = dict(zip(both, conversations.pairwise_outcomes(choices)))
    outcomes = [verdicts.get(i, 0.5 if _valid(t) == _valid(s) else float(_valid(s)))
                for i, (t, s) in enumerate(zip(teacher, students))]
    bias = conversations.first_shown_preferred(choices)
    return {"model": client.endpoint.model, "judged_pairs": len(both), **win_rate(np.array(outcomes), seed),
            "first_shown_preferred": bias, **judge_usability(bias)}


def imitation(student: Student, prompts: list[str], seeds: list[dict[str, Any]], teacher: list[Any],
              task: str) -> dict[str, Any]:
    examples = [Example(student_prompt(task, p, s["output"]), student_target(task, t))
                for p, s, t in zip(prompts, seeds, teacher) if _valid(t)]
    if not examples:
        return {"examples": 0, "delta_nll": None}
    model, tokenizer = student.load()
    tuned = reference_nll(model, tokenizer, examples)
    with model.disable_adapter():  # the base model itself, without loading it a second time
        plain = reference_nll(model, tokenizer, examples)
    return {"examples": len(examples), "mean_nll": {"student": round(float(tuned.mean()), 4),
                                                    "base": round(float(plain.mean()), 4)},
            "delta_nll": paired_delta(plain, tuned)}


def cost(teacher_tokens: int, teacher_seconds: float, teacher_records: int, student_usage) -> dict[str, Any]:
    teacher = generation_cost(teacher_tokens, teacher_seconds, teacher_records)
    student = generation_cost(student_usage.new_tokens, student_usage.seconds, student_usage.prompts)
    ratio = (round(student["s_per_1000_records"] / teacher["s_per_1000_records"], 3)
             if student["s_per_1000_records"] and teacher["s_per_1000_records"] else None)
    return {"teacher": teacher, "student": student, "student_to_teacher_time": ratio,
            "where": "teacher through its endpoint; student in process (transformers + peft)"}


def _validity(outputs: list[Any]) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for output in outputs:
        if not _valid(output):
            reasons[str(output)] = reasons.get(str(output), 0) + 1
    valid = sum(_valid(o) for o in outputs)
    return {"valid": valid, "share": round(valid / len(outputs), 4) if outputs else None,
            "invalid": dict(sorted(reasons.items()))}


def _valid(output: Any) -> bool:
    return not isinstance(output, Unusable)


def _instruction(output: Any) -> str:
    return output[0] if isinstance(output, tuple) else output


def _shown(output: Any) -> str:
    return f"{output[0]}\n\n{output[1]}" if isinstance(output, tuple) else output
