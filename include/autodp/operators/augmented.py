"""What the generation and refinement operators that run an augmentation task share: the
task's output from the data LLM (with the task's versioned template) or from the
registered augmentation model the operator's ``model`` param names."""

from __future__ import annotations

from autodp.augmentation.templates import made_by_template, student_answer, student_prompt, template

MODEL_DESCRIPTION = ("a registered augmentation model (its name or entry key; autodp distill) that writes them "
                     "instead of the data LLM")


def written(operator, resources, examples: list[tuple[str, str]], rows: list[int]) -> list:
    """What the operator's augmentation task makes of each (instruction, response): by the
    registered model its ``model`` param names, else by the data LLM with the task's template."""
    task, params = operator.augmentation_task, operator.params
    seed = getattr(params, "seed", 0)
    if not params.model:
        return made_by_template(resources.llm, task, examples, seed, rows)
    chosen = template(task)
    student = resources.student(params.model, task)
    answers = student.generate([student_prompt(task, i, r) for i, r in examples], max_new_tokens=chosen.max_tokens,
                               temperature=chosen.temperature, seed=seed)
    return [student_answer(task, a) for a in answers]


def same_text(a: str, b: str) -> bool:
    """A copy of its seed is not a new instruction (case and spacing aside)."""
    return " ".join(a.lower().split()) == " ".join(b.lower().split())
