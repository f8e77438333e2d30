"""Controlled defects: clean instruction data with defects injected at known rows.

This is how curation is measured (``bench/defects.py``): start from clean records, plant
each class of defect at a documented rate, keep the ground truth (which row carries which
defect) apart from the data, then ask whether a strategy removed or repaired exactly those
rows. The defect classes are the ones listed in the cleaned-Alpaca taxonomy and seen in
MedQuAD; each names the pool operators that target it.

Conventions the scoring relies on:
- rows are numbered from 1 in the order written, as ``source_row`` is for a JSONL file;
- an added duplicate is the *later* row of its pair (the deduplicators keep the first);
- a swap of answers between two records makes both records defective;
- a row carries at most one defect, and duplicates are made only of untouched rows.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CLEAN = "clean"


@dataclass(frozen=True)
class DefectClass:
    name: str
    rate: float  # share of the defective dataset's rows
    description: str
    operators: tuple[str, ...]  # pool operators that target it
    added: bool = False  # new rows (duplicates) rather than damaged ones


DEFECT_CLASSES: dict[str, DefectClass] = {d.name: d for d in (
    DefectClass("empty_output", 0.04, "the response is empty or whitespace", ("drop_empty_output",)),
    DefectClass("placeholder_output", 0.02, "the response is a stand-in: <nooutput>, N/A, None, ...",
                ("drop_empty_output",)),
    DefectClass("truncated_output", 0.04, "the response stops mid-sentence (cut at a word boundary at 20-70% "
                "of its length)", ("truncation_filter",)),
    DefectClass("mismatched_output", 0.04, "two records' responses swapped: each answers the other's question",
                ("mismatched_answer_filter",)),
    DefectClass("exact_duplicate", 0.03, "a record repeated verbatim", ("exact_dedup",), added=True),
    DefectClass("near_duplicate", 0.03, "a record repeated with small edits (a few words dropped, a lead-in "
                "added to the instruction)", ("near_dedup",), added=True),
    DefectClass("invented_url", 0.03, "the response cites a URL the prompt never gave",
                ("hallucinated_url_filter",)),
    DefectClass("merged_instruction", 0.03, "another instruction/response pair glued onto the response",
                ("merged_instruction_filter",)),
    DefectClass("other_language", 0.02, "the response is a paragraph in another language",
                ("language_filter",)),
    DefectClass("planted_pii", 0.02, "an e-mail address, phone number, SSN or record number planted in the "
                "response", ("pii_redaction",)),
)}

PLACEHOLDERS = ("<nooutput>", "N/A", "None", "null", "<No Output>", "n/a", "NaN", "TBD")
URL_LEAD_INS = ("For more information, visit {url}.", "See {url} for details.",
                "You can read more at {url}.", "Source: {url}")
URL_DOMAINS = ("org", "com", "net", "info", "health")
MERGE_FORMATS = ("\n##\n{n}. Instruction: {instruction}\n{n}. Output: {output}",
                 "\n\n### Instruction:\n{instruction}\n\n### Response:\n{output}",
                 "\nInstruction: {instruction}\nOutput: {output}")
NEAR_LEAD_INS = ("Please answer: ", "Question: ", "Tell me: ", "Q: ")
FIRST_NAMES = ("Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "John", "Fatima", "Lena")
LAST_NAMES = ("Garcia", "Smith", "Okafor", "Chen", "Ivanova", "Rossi", "Patel", "Brown", "Haddad", "Novak")
SENTENCE_END = re.compile(r"[.!?:;]['\")\]]*$")


def inject(records: Sequence[dict[str, Any]], foreign_texts: Sequence[str], seed: int = 0,
           size: int | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(defective records, ground truth): the records shuffled with every class planted at
    its rate; the truth has one row per record, ``{"row", "defect", "source"}`` where
    ``source`` is the index of the clean record it came from. ``size`` is the defective
    dataset's row count (default: as many as the clean records allow)."""
    rng = random.Random(seed)
    added_rate = sum(d.rate for d in DEFECT_CLASSES.values() if d.added)
    size = size or int(len(records) / (1 - added_rate))
    base_count = size - sum(round(d.rate * size) for d in DEFECT_CLASSES.values() if d.added)
    if base_count > len(records):
        raise ValueError(f"{size} rows need {base_count} clean records; {len(records)} given")
    if not foreign_texts:
        raise ValueError("other_language needs at least one foreign-language text")
    chosen = rng.sample(range(len(records)), base_count)
    rows = [{"record": dict(records[i]), "defect": CLEAN, "source": i} for i in chosen]
    untouched = list(range(len(rows)))
    rng.shuffle(untouched)

    def take(count: int, eligible=lambda row: True) -> list[dict[str, Any]]:
        picked = []
        for index in list(untouched):
            if len(picked) == count:
                break
            if eligible(rows[index]["record"]):
                untouched.remove(index)
                picked.append(rows[index])
        if len(picked) < count:
            raise ValueError(f"too few eligible clean records ({len(picked)} of {count})")
        return picked

    counts = {d.name: round(d.rate * size) for d in DEFECT_CLASSES.values()}
    for row in take(counts["empty_output"]):
        _mark(row, "empty_output", output=rng.choice(("", " ", "\n")))
    for row in take(counts["placeholder_output"]):
        _mark(row, "placeholder_output", output=rng.choice(PLACEHOLDERS))
    for row in take(counts["truncated_output"], lambda r: len(_cut_points(r["output"])) > 0):
        _mark(row, "truncated_output", output=_truncate(row["record"]["output"], rng))
    swapped = take(counts["mismatched_output"] // 2 * 2)
    for first, second in zip(swapped[::2], swapped[1::2]):
        answers = first["record"]["output"], second["record"]["output"]
        _mark(first, "mismatched_output", output=answers[1])
        _mark(second, "mismatched_output", output=answers[0])
    for row in take(counts["invented_url"], lambda r: "http" not in r["output"]):
        _mark(row, "invented_url", output=_with_url(row["record"]["output"], rng))
    donors = [rows[i]["record"] for i in untouched]
    for number, row in enumerate(take(counts["merged_instruction"]), start=2):
        donor = rng.choice(donors)
        merged = rng.choice(MERGE_FORMATS).format(n=number % 40 + 2, instruction=donor["instruction"],
                                                  output=donor["output"][:400])
        _mark(row, "merged_instruction", output=row["record"]["output"].rstrip() + merged)
    for row in take(counts["other_language"]):
        _mark(row, "other_language", output=rng.choice(foreign_texts))
    for row in take(counts["planted_pii"]):
        _mark(row, "planted_pii", output=_with_pii(row["record"]["output"], rng))

    originals = rng.sample(untouched, counts["exact_duplicate"] + counts["near_duplicate"])
    copies = []
    for n, index in enumerate(originals):
        original = rows[index]
        if n < counts["exact_duplicate"]:
            copies.append({"record": dict(original["record"]), "defect": "exact_duplicate",
                           "source": original["source"], "of": original})
        else:
            copies.append({"record": _near_copy(original["record"], rng), "defect": "near_duplicate",
                           "source": original["source"], "of": original})
    everything = rows + copies
    rng.shuffle(everything)
    position = {id(row): n for n, row in enumerate(everything)}
    for copy in copies:  # the later row of each pair is the duplicate
        original = copy["of"]
        if position[id(copy)] < position[id(original)]:
            everything[position[id(copy)]], everything[position[id(original)]] = original, copy
            position[id(copy)], position[id(original)] = position[id(original)], position[id(copy)]
    records_out = [row["record"] for row in everything]
    truth = [{"row": n, "defect": row["defect"], "source": row["source"]}
             for n, row in enumerate(everything, start=1)]
    return records_out, truth


def _mark(row: dict[str, Any], defect: str, output: str) -> None:
    row["record"] = {**row["record"], "output": output}
    row["defect"] = defect


def _cut_points(text: str) -> list[int]:
    """Word boundaries between 20% and 70% of the text that are not sentence ends."""
    low, high = int(len(text) * 0.2), int(len(text) * 0.7)
    return [m.start() for m in re.finditer(r"\s+", text)
            if low <= m.start() <= high and not SENTENCE_END.search(text[:m.start()])
            and len(text[:m.start()].split()) >= 5]


def _truncate(text: str, rng: random.Random) -> str:
    return text[:rng.choice(_cut_points(text))]


def _with_url(text: str, rng: random.Random) -> str:
    words = rng.sample(("health", "care", "med", "info", "clinic", "cure", "help", "facts", "guide", "center",
                        "wellness", "disease", "answers", "research"), 2)
    path = "-".join(rng.sample(("treatment", "symptoms", "overview", "faq", "causes", "article", "guide"), 2))
    url = f"https://www.{''.join(words)}.{rng.choice(URL_DOMAINS)}/{path}"
    sentence = rng.choice(URL_LEAD_INS).format(url=url)
    return f"{text.rstrip()} {sentence}"


def _with_pii(text: str, rng: random.Random) -> str:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    email = f"{name.split()[0].lower()}.{name.split()[1].lower()}{rng.randint(1, 99)}@{rng.choice(('gmail.com', 'example.org', 'mail.com'))}"
    phone = f"({rng.randint(201, 989)}) 555-{rng.randint(1000, 9999)}"
    ssn = f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    mrn = "".join(rng.choices(string.digits, k=8))
    planted = rng.choice((f"Patient {name}, SSN {ssn}. ", f"Contact {name} at {email} or {phone}. ",
                          f"{name} (MRN: {mrn}) was seen for this. ", f"Call Dr. {name.split()[1]} at {phone}. "))
    return planted + text if rng.random() < 0.5 else f"{text.rstrip()} {planted.strip()}"


def _near_copy(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    words = record["output"].split(" ")
    dropped = set(rng.sample(range(len(words)), k=min(len(words) - 1, max(1, len(words) // 25))))
    output = " ".join(w for i, w in enumerate(words) if i not in dropped)
    return {**record, "instruction": rng.choice(NEAR_LEAD_INS) + record["instruction"], "output": output}


def foreign_paragraphs(texts: Sequence[str], min_chars: int = 80, max_chars: int = 1200) -> list[str]:
    """Paragraphs of real non-English text, split from longer texts."""
    found = []
    for text in texts:
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = paragraph.strip()
            if min_chars <= len(paragraph) <= max_chars and "```" not in paragraph:
                found.append(paragraph)
    return list(dict.fromkeys(found))


def detection(truth: Sequence[dict[str, Any]], touched: set[int]) -> dict[str, dict[str, Any]]:
    """Per defect class: of its rows, how many are in ``touched`` (dropped or changed), and
    how many clean rows were touched. Precision counts a touched row as wrong only when it
    is clean: a row with another class's defect is not a false alarm."""
    by_class: dict[str, list[int]] = {}
    for row in truth:
        by_class.setdefault(row["defect"], []).append(row["row"])
    clean = by_class.get(CLEAN, [])
    false_alarms = sum(1 for row in clean if row in touched)
    figures = {}
    for name in DEFECT_CLASSES:
        rows = by_class.get(name, [])
        found = sum(1 for row in rows if row in touched)
        figures[name] = {"rows": len(rows), "found": found, "recall": found / len(rows) if rows else None}
    figures[CLEAN] = {"rows": len(clean), "touched": false_alarms,
                      "kept_share": 1 - false_alarms / len(clean) if clean else None}
    return figures


def scores(found: int, rows: int, false_alarms: int) -> dict[str, float | None]:
    """Recall, precision and F1 of one detector on one class."""
    recall = found / rows if rows else None
    precision = found / (found + false_alarms) if found + false_alarms else None
    f1 = 2 * recall * precision / (recall + precision) if recall and precision else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}


MIXED = "mixed"
# Per-class ladders: each names the defect classes planted on its rungs.
LADDER_CLASSES: dict[str, tuple[str, ...]] = {
    MIXED: tuple(DEFECT_CLASSES),
    "mismatched": ("mismatched_output",),
    "truncated": ("truncated_output",),
    "empty": ("empty_output", "placeholder_output"),
}
LADDER_DOSES = (0.0, 0.1, 0.3, 0.5)


def ladder_eligible(record: dict[str, Any]) -> bool:
    """A clean record every class can be planted in: it can be truncated mid-sentence and
    cites no URL, so no class falls back to another on it."""
    return bool(_cut_points(record["output"])) and "http" not in record["output"]


def dose_ladder(records: Sequence[dict[str, Any]], classes: Sequence[str], doses: Sequence[float],
                foreign_texts: Sequence[str] = (), seed: int = 0) -> dict[float, list[dict[str, Any]]]:
    """Rungs of one ladder: per dose, the same records in the same order with that share of
    them damaged. The rungs differ only in the dose: a row defective at 10% is defective, the
    same way, at 30% and 50%, so the rungs are nested and their order is known.

    Classes are drawn in proportion to their ``rate``; a duplicate replaces its row with a
    copy (exact or near) of a row no rung damages, so every rung has the same size; a
    mismatched pair swaps two rows' responses. Every returned record carries its truth in
    ``defect`` (``CLEAN`` or the class). Records must be ``ladder_eligible``."""
    if not records:
        raise ValueError("a ladder needs records")
    unknown = [name for name in classes if name not in DEFECT_CLASSES]
    if unknown:
        raise ValueError(f"unknown defect classes {unknown}; known: {sorted(DEFECT_CLASSES)}")
    if "other_language" in classes and not foreign_texts:
        raise ValueError("other_language needs at least one foreign-language text")
    ineligible = sum(1 for record in records if not ladder_eligible(record))
    if ineligible:
        raise ValueError(f"{ineligible} records are not ladder_eligible (no mid-sentence cut point, or a URL)")
    rng = random.Random(seed)
    n = len(records)
    order = rng.sample(range(n), n)  # the first round(dose x n) rows of this order are damaged
    top = max(doses)
    damaged = _whole_pairs(order, _class_sequence(classes, n, rng), round(top * n))
    untouched = [i for i in order if i not in damaged]
    if not untouched and any(DEFECT_CLASSES[c].added or c == "merged_instruction" for c in classes):
        raise ValueError("duplicates and merged instructions copy from undamaged rows: lower the highest dose")
    damage = _plan_damage(records, damaged, untouched, foreign_texts, seed)
    rungs = {}
    for dose in doses:
        count = round(dose * n)
        chosen = {index: damage[index] for index in order[:count] if index in damage}
        for index in list(chosen):  # a swap needs both rows of its pair
            partner = damaged[index][1]
            if partner is not None and partner not in chosen:
                chosen[partner] = damage[partner]
        rungs[dose] = [{**records[i], **chosen[i]} if i in chosen else {**records[i], "defect": CLEAN}
                       for i in range(n)]
    return rungs


def _class_sequence(classes: Sequence[str], n: int, rng: random.Random) -> list[str]:
    weights = [DEFECT_CLASSES[name].rate for name in classes]
    return rng.choices(list(classes), weights=weights, k=n)


def _whole_pairs(order: list[int], sequence: list[str], count: int) -> dict[int, tuple[str, int | None]]:
    """Row -> (class, swap partner) for the first ``count`` rows of ``order``; a mismatched
    row takes the next row in the order as its partner, so a pair is never split by a dose."""
    plan: dict[int, tuple[str, int | None]] = {}
    position = 0
    while position < min(count, len(order)):
        name = sequence[position]
        if name != "mismatched_output":
            plan[order[position]] = (name, None)
            position += 1
        elif position + 1 < len(order):
            first, second = order[position], order[position + 1]
            plan[first], plan[second] = (name, second), (name, first)
            position += 2
        else:  # the order's last row has no partner to swap with: it stays clean
            break
    return plan


def _plan_damage(records: Sequence[dict[str, Any]], plan: dict[int, tuple[str, int | None]], untouched: list[int],
                 foreign_texts: Sequence[str], seed: int) -> dict[int, dict[str, Any]]:
    """The damaged fields of each planned row, decided once per row (its own seeded stream)."""
    damage = {}
    for index, (name, partner) in plan.items():
        rng = random.Random(f"{seed}:{index}")
        record = records[index]
        if name == "empty_output":
            fields = {"output": rng.choice(("", " ", "\n"))}
        elif name == "placeholder_output":
            fields = {"output": rng.choice(PLACEHOLDERS)}
        elif name == "truncated_output":
            fields = {"output": _truncate(record["output"], rng)}
        elif name == "mismatched_output":
            fields = {"output": records[partner]["output"]}
        elif name == "invented_url":
            fields = {"output": _with_url(record["output"], rng)}
        elif name == "merged_instruction":
            donor = records[rng.choice(untouched)]
            fields = {"output": record["output"].rstrip() + rng.choice(MERGE_FORMATS).format(
                n=rng.randint(2, 40), instruction=donor["instruction"], output=donor["output"][:400])}
        elif name == "other_language":
            fields = {"output": rng.choice(list(foreign_texts))}
        elif name == "planted_pii":
            fields = {"output": _with_pii(record["output"], rng)}
        elif name == "exact_duplicate":
            source = records[rng.choice(untouched)]
            fields = {key: source[key] for key in ("instruction", "input", "output")}
        else:  # near_duplicate
            copied = _near_copy(dict(records[rng.choice(untouched)]), rng)
            fields = {key: copied[key] for key in ("instruction", "input", "output")}
        damage[index] = {**fields, "defect": name}
    return damage
