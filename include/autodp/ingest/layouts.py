"""Layouts: how a parsed source object maps onto instruction / input / output.

- ``alpaca``: ``instruction``, optional ``input``, ``output``.
- ``sharegpt``: ``conversations`` (or ``messages``) of ``{from, value}`` or ``{role, content}``
  turns. The last user turn becomes the instruction, the last assistant turn the output;
  the system prompt and earlier turns are kept in metadata as ``system`` and ``history``.
- ``self_instruct``: seed tasks as Self-Instruct and Alpaca ship them (``seed_tasks.jsonl``):
  ``instruction`` and ``instances`` of ``{input, output}``; the first instance is the
  record's input and output, the rest stay in metadata.
- ``mapped``: an explicit ``field=column`` mapping, for anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autodp.fields import INPUT, INSTRUCTION, OUTPUT, REQUIRED_FIELDS, TEXT_FIELDS
from autodp.ingest.rows import BAD_CONVERSATION, MISSING_FIELD, WRONG_TYPE, Rejection

LAYOUTS = ("alpaca", "sharegpt", "self_instruct", "mapped")
ALPACA_MAPPING = {INSTRUCTION: INSTRUCTION, INPUT: INPUT, OUTPUT: OUTPUT}
CONVERSATION_KEYS = ("conversations", "messages")
USER_ROLES = {"human", "user"}
ASSISTANT_ROLES = {"gpt", "assistant", "model", "bot"}
SYSTEM_ROLES = {"system"}
INSTANCES = "instances"


@dataclass(frozen=True)
class Canonical:
    instruction: str
    input: str
    output: str
    metadata: dict[str, Any]


def parse_mapping(pairs: list[str] | dict[str, str] | None) -> dict[str, str]:
    """``["instruction=question", "output=answer"]`` -> ``{"instruction": "question", ...}``."""
    if not pairs:
        return {}
    items = pairs.items() if isinstance(pairs, dict) else (_split_pair(p) for p in pairs)
    mapping: dict[str, str] = {}
    for field, column in items:
        if field not in TEXT_FIELDS:
            raise ValueError(f"--map {field}={column}: {field!r} is not one of {', '.join(TEXT_FIELDS)}")
        if not column:
            raise ValueError(f"--map {field}=: no source column given")
        mapping[field] = column
    missing = [f for f in REQUIRED_FIELDS if f not in mapping]
    if missing:
        raise ValueError(f"the mapping must name a column for {', '.join(missing)}")
    return mapping


def _split_pair(pair: str) -> tuple[str, str]:
    field, sep, column = pair.partition("=")
    if not sep:
        raise ValueError(f"--map {pair!r}: expected FIELD=COLUMN, e.g. output=answer")
    return field.strip(), column.strip()


def detect_layout(first_object: dict[str, Any]) -> str | None:
    if any(key in first_object for key in CONVERSATION_KEYS):
        return "sharegpt"
    if INSTRUCTION in first_object and OUTPUT in first_object:
        return "alpaca"
    if INSTRUCTION in first_object and INSTANCES in first_object:
        return "self_instruct"
    return None


def to_canonical(value: dict[str, Any], layout: str, mapping: dict[str, str]) -> Canonical | Rejection:
    if layout == "sharegpt":
        return _from_conversation(value)
    if layout == "self_instruct":
        return _from_seed_task(value)
    return _from_columns(value, mapping or ALPACA_MAPPING)


def _from_columns(value: dict[str, Any], mapping: dict[str, str]) -> Canonical | Rejection:
    texts: dict[str, str] = {}
    for field in TEXT_FIELDS:
        column = mapping.get(field)
        present = column is not None and column in value
        item = value.get(column) if present else None
        if item is None:
            if field in REQUIRED_FIELDS:
                state = "is null" if present else "is missing"
                return Rejection(MISSING_FIELD, f"required field {column!r} {state}", column)
            texts[field] = ""
        elif not isinstance(item, str):
            return Rejection(WRONG_TYPE, f"field {column!r} holds {_kind(item)}, expected text", column)
        else:
            texts[field] = item
    used = set(mapping.values())
    metadata = {k: v for k, v in value.items() if k not in used}
    return Canonical(texts[INSTRUCTION], texts[INPUT], texts[OUTPUT], metadata)


def _from_seed_task(value: dict[str, Any]) -> Canonical | Rejection:
    instances = value.get(INSTANCES)
    if not isinstance(instances, list) or not instances:
        return Rejection(MISSING_FIELD if instances is None else WRONG_TYPE,
                         f"field {INSTANCES!r} holds {_kind(instances)}, expected a non-empty list of "
                         "{input, output} objects", INSTANCES)
    first = instances[0]
    if not isinstance(first, dict):
        return Rejection(WRONG_TYPE, f"instance 1 is {_kind(first)}, expected an object", INSTANCES)
    found = _from_columns({INSTRUCTION: value.get(INSTRUCTION), INPUT: first.get(INPUT), OUTPUT: first.get(OUTPUT)},
                          ALPACA_MAPPING)
    if isinstance(found, Rejection):
        return found
    metadata = {k: v for k, v in value.items() if k not in (INSTRUCTION, INSTANCES)}
    if len(instances) > 1:
        metadata["more_instances"] = instances[1:]
    return Canonical(found.instruction, found.input, found.output, metadata)


def _from_conversation(value: dict[str, Any]) -> Canonical | Rejection:
    key = next((k for k in CONVERSATION_KEYS if k in value), None)
    if key is None or value[key] is None:
        return Rejection(MISSING_FIELD, "required field 'conversations' is missing", "conversations")
    turns = value[key]
    if not isinstance(turns, list):
        return Rejection(WRONG_TYPE, f"field {key!r} holds {_kind(turns)}, expected a list of turns", key)
    system: list[str] = []
    dialogue: list[tuple[str, str]] = []
    for position, turn in enumerate(turns, start=1):
        parsed = _turn(turn)
        if isinstance(parsed, str):
            return Rejection(BAD_CONVERSATION, f"turn {position}: {parsed}", key)
        role, text = parsed
        if role in SYSTEM_ROLES:
            if dialogue:
                return Rejection(BAD_CONVERSATION, f"turn {position}: system turn after the dialogue began", key)
            system.append(text)
            continue
        expected = USER_ROLES if len(dialogue) % 2 == 0 else ASSISTANT_ROLES
        if role not in expected:
            want = "a user" if expected is USER_ROLES else "an assistant"
            return Rejection(BAD_CONVERSATION, f"turn {position}: expected {want} turn, got {role!r}", key)
        dialogue.append((role, text))
    if not dialogue or len(dialogue) % 2:
        return Rejection(BAD_CONVERSATION, "the conversation does not end with an assistant turn", key)
    history = [[dialogue[i][1], dialogue[i + 1][1]] for i in range(0, len(dialogue) - 2, 2)]
    metadata = {k: v for k, v in value.items() if k != key}
    if system:
        metadata["system"] = "\n".join(system)
    if history:
        metadata["history"] = history
    return Canonical(dialogue[-2][1], "", dialogue[-1][1], metadata)


def _turn(turn: Any) -> tuple[str, str] | str:
    if not isinstance(turn, dict):
        return f"a turn must be an object, got {_kind(turn)}"
    role = turn.get("from", turn.get("role"))
    text = turn.get("value", turn.get("content"))
    if not isinstance(role, str):
        return "no 'from'/'role' text"
    if not isinstance(text, str):
        return f"'value'/'content' holds {_kind(text)}, expected text"
    role = role.lower()
    if role not in USER_ROLES | ASSISTANT_ROLES | SYSTEM_ROLES:
        return f"unknown role {role!r}"
    return role, text


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
