"""Teacher data: the teacher endpoint (``autodp_llm_teacher``; the local server by default)
answers each training seed with the task's versioned template, and every usable answer
becomes a record the pool can filter: for the instruction tasks the seed's prompt and the
teacher's instruction, for pair expansion the new pair itself (its seed in metadata).
Expansion tasks ask ``per_seed`` times with different sampling seeds. ``student_dataset``
turns the filtered records into what the student trains on: its prompt (the raw
instruction, or the seed pair) and the teacher's output as plain text.

Every call goes through the LLM client (cached, retried, counted). An answer that is not
usable is not a record, and is counted by reason: the call failed, the JSON did not hold
the fields, or the output copies the seed. calls = records + rejected, always.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.augmentation.templates import student_prompt, student_target, template
from autodp.distill.seeds import read_records, write_records
from autodp.hashing import content_key, record_id
from autodp.llm.client import FailedAnswer
from autodp.operators.augmented import same_text
from autodp.operators.resources import Resources
from autodp.store import ArtifactStore
from autodp.text import prompt_text

TEACHER_VERSION = "1"
GENERATIVE = ("instruction_expansion", "pair_expansion")  # asked per_seed times; refinement once


def teacher_identity(resources: Resources) -> dict[str, str]:
    endpoint = resources.endpoints["teacher"]
    return {"base_url": endpoint.base_url, "model": endpoint.model}


def teacher_data(store: ArtifactStore, seeds_key: str, task: str, per_seed: int, seed: int,
                 resources: Resources | None = None) -> dict[str, Any]:
    """Store the student's training records for ``task``; their dataset key and the counts."""
    resources = (resources or Resources()).using(store)
    chosen = template(task)
    asks = per_seed if task in GENERATIVE else 1
    material = {"seeds": seeds_key, "template": chosen.identity(), "teacher": teacher_identity(resources),
                "per_seed": asks, "seed": seed}
    key = content_key("teacher-data", TEACHER_VERSION, material)
    if store.has(DATASETS, key):
        return {**store.manifest(DATASETS, key)["summary"], "cached": True}
    seeds = read_records(store, seeds_key, resources.settings)
    client = teacher_client(resources)
    started = time.perf_counter()
    asked = [(s, k) for s in seeds for k in range(asks)]
    answers = client.chat_many([chosen.request(prompt_text(s), s["output"], seed=seed + 1000 * k + s["source_row"])
                                for s, k in asked])
    seconds = time.perf_counter() - started
    made, rejected = [], Counter()
    for (s, k), answer in zip(asked, answers):
        verdict = usable(task, s, answer)
        if isinstance(verdict, Unusable):
            rejected[verdict] += 1
            continue
        instruction, output = verdict if isinstance(verdict, tuple) else (prompt_text(s), verdict)
        made.append({"record_id": record_id(instruction, "", output), "instruction": instruction, "input": "",
                     "output": output, "source_row": len(made) + 1,
                     "metadata": json.dumps({"task": task, "seed_row": s["source_row"], "ask": k,
                                             "seed_prompt": prompt_text(s), "seed_response": s["output"],
                                             "template_version": chosen.version})})
    usage = client.usage.as_dict()
    summary = {"teacher_key": key, "task": task, "seeds": len(seeds), "calls": len(asked), "records": len(made),
               "rejected": dict(sorted(rejected.items())), "teacher": material["teacher"],
               "template_version": chosen.version, "usage": usage, "seconds": round(seconds, 2),
               **generation_cost(usage["completion_tokens"], seconds, len(asked) - usage["cached"])}
    with tempfile.TemporaryDirectory(prefix="autodp-teacher-") as tmp:
        store.publish(DATASETS, key, {RECORDS_FILE: write_records(Path(tmp) / RECORDS_FILE, made)},
                      provenance={"step": "teacher_data", "version": TEACHER_VERSION, **material}, summary=summary)
    client.close()
    return {**summary, "cached": False}


def student_dataset(store: ArtifactStore, filtered_key: str, task: str, settings=None) -> str:
    """The dataset the student of ``task`` trains on, from the filtered teacher records."""
    key = content_key("student-data", TEACHER_VERSION, {"filtered": filtered_key, "task": task})
    if store.has(DATASETS, key):
        return key
    trained = []
    for record in read_records(store, filtered_key, settings):
        seed = json.loads(record["metadata"])
        made = (record["instruction"], record["output"]) if task == "pair_expansion" else record["output"]
        prompt, target = student_prompt(task, seed["seed_prompt"], seed["seed_response"]), student_target(task, made)
        trained.append({"record_id": record_id(prompt, "", target), "instruction": prompt, "input": "",
                        "output": target, "source_row": record["source_row"], "metadata": record["metadata"]})
    with tempfile.TemporaryDirectory(prefix="autodp-student-data-") as tmp:
        store.publish(DATASETS, key, {RECORDS_FILE: write_records(Path(tmp) / RECORDS_FILE, trained)},
                      provenance={"step": "student_data", "version": TEACHER_VERSION, "filtered": filtered_key,
                                  "task": task}, summary={"dataset_key": key, "task": task, "rows": len(trained)})
    return key


def teacher_client(resources: Resources):
    """The teacher reads seed records, so its endpoint must be trusted."""
    resources.endpoints["teacher"].require_trusted("the teacher")
    return resources.client("teacher", keep_going=True)


class Unusable(str):
    """Why an output is not usable: failed_call, unreadable_answer or copy_of_seed."""


def usable(task: str, seed: dict[str, Any], answer: str) -> str | tuple[str, str] | Unusable:
    """The output in a teacher's answer, or why there is none."""
    if isinstance(answer, FailedAnswer):
        return Unusable("failed_call")
    return checked(template(task).parse(answer), prompt_text(seed))


def checked(made: str | tuple[str, str] | None, seed_prompt: str) -> str | tuple[str, str] | Unusable:
    """An output (an instruction, or a pair) that is there and does not copy its seed."""
    if made is None:
        return Unusable("unreadable_answer")
    instruction = made[0] if isinstance(made, tuple) else made
    return Unusable("copy_of_seed") if same_text(instruction, seed_prompt) else made


def generation_cost(new_tokens: int, seconds: float, records: int) -> dict[str, float | None]:
    """Tokens per second and seconds per 1,000 records, over the records generated now."""
    if records <= 0 or seconds <= 0:
        return {"tokens_per_s": None, "s_per_1000_records": None}
    return {"tokens_per_s": round(new_tokens / seconds, 2), "s_per_1000_records": round(1000 * seconds / records, 1)}
