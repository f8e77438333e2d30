"""The three augmentation tasks, and the versioned prompt templates behind them.

A teacher (``autodp_llm_teacher``) is asked with a task's template and answers as JSON the
server constrains; the data LLM's generation and refinement operators ask with the same
templates. A distilled student is prompted differently, as the published augmentation
models are: the raw instruction (for pair expansion, the pair) is its plain user turn, one
adapter per task, and it answers in plain text (``student_prompt``, ``student_answer``).

A template's text is part of its version: change a word, bump ``version``, and every
teacher dataset and model distilled from it gets a new key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from autodp.llm.client import ChatRequest, LLMClient
from autodp.llm.conversations import json_objects

TASKS = ("instruction_expansion", "instruction_refinement", "pair_expansion")
SYSTEM = "You are a careful data reviewer for instruction-tuning datasets."
INSTRUCTION_SCHEMA = {"type": "object", "properties": {"instruction": {"type": "string", "minLength": 8}},
                      "required": ["instruction"]}
PAIR_SCHEMA = {"type": "object", "properties": {"instruction": {"type": "string", "minLength": 8},
                                                "response": {"type": "string", "minLength": 1}},
               "required": ["instruction", "response"]}
# How a pair reads as a student's prompt and answer: two labelled fields.
PAIR_LAYOUT = "Instruction: {instruction}\nResponse: {response}"
_PAIR = re.compile(r"^\s*Instruction:\s*(?P<instruction>.+?)\s*\nResponse:\s*(?P<response>.+?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Template:
    task: str
    version: str
    user: str  # str.format fields: instruction, and response for pair expansion
    schema: dict[str, Any] = field(repr=False)
    max_tokens: int
    temperature: float

    def request(self, instruction: str, response: str = "", seed: int = 0) -> ChatRequest:
        return ChatRequest.of([{"role": "system", "content": SYSTEM},
                               {"role": "user", "content": self.user.format(instruction=instruction,
                                                                             response=response)}],
                              max_tokens=self.max_tokens, temperature=self.temperature, seed=seed,
                              json_schema=self.schema)

    def parse(self, answer: str) -> str | tuple[str, str] | None:
        """The instruction (or the pair) in a JSON answer; None when there is none."""
        try:
            value = json.loads(answer)
        except (json.JSONDecodeError, TypeError):
            return None
        return self.read(value) if isinstance(value, dict) else None

    def read(self, value: dict[str, Any]) -> str | tuple[str, str] | None:
        """The instruction (or the pair) in a parsed JSON answer."""
        instruction = _text(value.get("instruction"))
        if self.task != "pair_expansion":
            return instruction
        response = _text(value.get("response"))
        return (instruction, response) if instruction and response else None

    def identity(self) -> dict[str, Any]:
        """What a teacher dataset's key takes from the template."""
        return {"task": self.task, "version": self.version, "user": self.user, "system": SYSTEM,
                "schema": self.schema, "max_tokens": self.max_tokens, "temperature": self.temperature}


TEMPLATES: dict[str, Template] = {t.task: t for t in (
    Template("instruction_expansion", "1",
             "Write one new instruction of the same kind and on the same topic as this one, asking for something "
             "different. Answer as JSON {{\"instruction\": \"...\"}}.\n\nInstruction:\n{instruction}",
             INSTRUCTION_SCHEMA, max_tokens=96, temperature=0.8),
    Template("instruction_refinement", "1",
             "Rewrite this instruction so it is clearer, more specific and complete, keeping what it asks for. "
             "Do not answer it. Answer as JSON {{\"instruction\": \"...\"}}.\n\nInstruction:\n{instruction}",
             INSTRUCTION_SCHEMA, max_tokens=128, temperature=0.0),
    Template("pair_expansion", "1",
             "Here is an example of an instruction and its response. Write one new, different instruction on the "
             "same topic and its response. Answer as JSON {{\"instruction\": \"...\", \"response\": \"...\"}}."
             "\n\nInstruction:\n{instruction}\n\nResponse:\n{response}",
             PAIR_SCHEMA, max_tokens=320, temperature=0.8),
)}


def template(task: str) -> Template:
    if task not in TEMPLATES:
        raise ValueError(f"unknown augmentation task {task!r}; expected one of {', '.join(TASKS)}")
    return TEMPLATES[task]


def made_by_template(client: LLMClient, task: str, examples: list[tuple[str, str]], seed: int,
                      rows: list[int] | None = None) -> list[str | tuple[str, str] | None]:
    """For each (instruction, response), what the task's versioned template asks for
    (below): a new instruction, a refined one, or a new pair."""
    chosen = template(task)
    requests = [chosen.request(instruction, response, seed=seed + i) for i, (instruction, response) in
                enumerate(examples)]
    answered = json_objects(client, client.chat_many(requests), rows)
    return [chosen.read(answer) for answer in answered]


def student_prompt(task: str, instruction: str, response: str = "") -> str:
    """A student's user turn: the raw instruction, or for pair expansion the pair."""
    template(task)
    return PAIR_LAYOUT.format(instruction=instruction, response=response) if task == "pair_expansion" else instruction


def student_target(task: str, made: str | tuple[str, str]) -> str:
    """What the student learns to answer: the teacher's instruction, or its pair laid out."""
    if task == "pair_expansion":
        instruction, response = made
        return PAIR_LAYOUT.format(instruction=instruction, response=response)
    return made  # type: ignore[return-value]


def student_answer(task: str, text: str) -> str | tuple[str, str] | None:
    """A student's plain-text answer read back: the instruction, or the pair; None when it
    is empty or (for a pair) not laid out as one."""
    if task != "pair_expansion":
        return _text(text)
    found = _PAIR.match(text or "")
    if not found:
        return None
    instruction, response = _text(found["instruction"]), _text(found["response"])
    return (instruction, response) if instruction and response else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
