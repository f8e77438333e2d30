"""The conversations autodp holds with an LLM: rate a record, judge a response right or
wrong, answer, and judge a pair in both orders. Operators, the scorer, target selection,
the search's LLM judge and the augmentation evaluation all ask through these; creating by
a versioned template lives with the templates (``autodp.augmentation.templates``).

Each returns plain values and treats an unparsable answer as no answer (None), which the
calling operator turns into "leave the record as it is". Structured answers are
constrained by a JSON schema the server enforces.
"""

from __future__ import annotations

import json
from typing import Any

from autodp.llm.client import ChatRequest, FailedAnswer, LLMClient

SYSTEM = "You are a careful data reviewer for instruction-tuning datasets."
SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}},
                "required": ["score"]}
CHOICE_SCHEMA = {"type": "object", "properties": {"better": {"type": "string", "enum": ["A", "B"]}},
                 "required": ["better"]}
VERDICT_SCHEMA = {"type": "object", "properties": {"correct": {"type": "boolean"},
                                                   "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
                  "required": ["correct", "confidence"]}


def _messages(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def json_objects(client: LLMClient, texts: list[str], rows: list[int] | None = None) -> list[dict[str, Any]]:
    """Each structured answer as a dict ({} when there is none); an answer that arrived but
    breaks its schema is counted as ``unreadable_answer`` (a failed call was counted already).
    With ``rows`` (the source_row each call was made for), both are recorded per row."""
    found = []
    for index, text in enumerate(texts):
        if isinstance(text, FailedAnswer):
            _row_failure(client, rows, index, text.reason)
            found.append({})
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            value = None
        if not isinstance(value, dict):
            client.usage.failure("unreadable_answer")
            _row_failure(client, rows, index, "unreadable_answer")
            value = {}
        found.append(value)
    return found


def _row_failure(client: LLMClient, rows: list[int] | None, index: int, reason: str) -> None:
    if rows is not None:
        client.usage.row_failure(rows[index], reason)


def rate(client: LLMClient, pairs: list[tuple[str, str]], rows: list[int] | None = None) -> list[int | None]:
    requests = [ChatRequest.of(_messages(
        "Rate how well the response follows the instruction: correct, complete, clear. "
        "1 is useless, 10 is excellent. Answer as JSON {\"score\": N}.\n\n"
        f"Instruction:\n{prompt}\n\nResponse:\n{response}"), max_tokens=16, json_schema=SCORE_SCHEMA)
        for prompt, response in pairs]
    answered = json_objects(client, client.chat_many(requests), rows)
    return [s if isinstance(s, int) else None for s in (o.get("score") for o in answered)]


def verdicts(client: LLMClient, pairs: list[tuple[str, str]], rows: list[int] | None = None) -> list[float | None]:
    """Self-reflection: the model's probability that each response is correct."""
    requests = [ChatRequest.of(_messages(
        "Is the response to the instruction correct? Answer as JSON "
        "{\"correct\": true or false, \"confidence\": 0 to 1}.\n\n"
        f"Instruction:\n{prompt}\n\nResponse:\n{response}"), max_tokens=32, json_schema=VERDICT_SCHEMA)
        for prompt, response in pairs]
    found = []
    for answer in json_objects(client, client.chat_many(requests), rows):
        correct, confidence = answer.get("correct"), answer.get("confidence")
        if not isinstance(correct, bool) or not isinstance(confidence, (int, float)):
            found.append(None)
        else:
            confidence = min(max(float(confidence), 0.0), 1.0)
            found.append(confidence if correct else 1.0 - confidence)
    return found


def answers(client: LLMClient, prompts: list[str], max_tokens: int = 256, temperature: float = 0.0,
            seed: int = 0, rows: list[int] | None = None) -> list[str]:
    requests = [ChatRequest.of([{"role": "user", "content": p}], max_tokens=max_tokens,
                               temperature=temperature, seed=seed) for p in prompts]
    texts = client.chat_many(requests)
    for index, text in enumerate(texts):
        if isinstance(text, FailedAnswer):
            _row_failure(client, rows, index, text.reason)
    return [t.strip() for t in texts]


def pairwise_choices(client: LLMClient, items: list[tuple[str, str, str]], what: str = "response",
                     rows: list[int] | None = None) -> list[tuple[str | None, str | None]]:
    """For (prompt, first, second): the judge's answer ("A", "B", or None when unreadable)
    with ``first`` shown as A, then with ``second`` shown as A."""
    requests = []
    for prompt, first, second in items:
        for a, b in ((first, second), (second, first)):
            requests.append(ChatRequest.of(_messages(
                f"Which {what} is better for the instruction: more correct, helpful and clear? "
                "Answer as JSON {\"better\": \"A\" or \"B\"}.\n\n"
                f"Instruction:\n{prompt}\n\n{what.title()} A:\n{a}\n\n{what.title()} B:\n{b}"),
                max_tokens=12, json_schema=CHOICE_SCHEMA))
    choices = [choice if choice in ("A", "B") else None
               for choice in (o.get("better") for o in json_objects(
                   client, client.chat_many(requests), None if rows is None else [r for r in rows for _ in (0, 1)]))]
    return list(zip(choices[0::2], choices[1::2]))


def pairwise_outcomes(choices: list[tuple[str | None, str | None]]) -> list[float]:
    """1.0 when ``second`` is preferred in both presentation orders, 0.0 when ``first`` is,
    0.5 when the two orders disagree (position bias) or an answer is unreadable."""
    outcomes = []
    for first_as_a, second_as_a in choices:
        second_wins = (first_as_a == "B") + (second_as_a == "A")
        first_wins = (first_as_a == "A") + (second_as_a == "B")
        outcomes.append(1.0 if second_wins == 2 else 0.0 if first_wins == 2 else 0.5)
    return outcomes


def first_shown_preferred(choices: list[tuple[str | None, str | None]]) -> float | None:
    """Share of readable answers that picked whichever response was shown first: 0.5 for a
    judge without position bias, 1.0 for one whose verdicts say nothing about the responses."""
    answered = [choice for pair in choices for choice in pair if choice is not None]
    return round(sum(choice == "A" for choice in answered) / len(answered), 3) if answered else None


def prefers_candidate(client: LLMClient, items: list[tuple[str, str, str]], what: str = "response",
                      rows: list[int] | None = None) -> list[bool]:
    """For (prompt, original, candidate): true only when the candidate wins in both orders,
    so position bias cannot make a rewrite look better."""
    return [outcome == 1.0 for outcome in pairwise_outcomes(pairwise_choices(client, items, what, rows))]
