"""A small synthetic healthcare instruction dataset with known defects.

Used by the main job when no real dataset is at hand. Deterministic: the same seed writes
the same bytes. Defects, by design: empty and placeholder outputs, exact duplicates, a
truncated JSON line, a non-object line, a missing output and a number where text belongs.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CONDITIONS = ["asthma", "type 2 diabetes", "hypertension", "migraine", "anemia", "eczema",
              "gout", "psoriasis", "hypothyroidism", "osteoporosis", "glaucoma", "sciatica"]
QUESTIONS = [
    ("What are the symptoms of {c}?", "Common symptoms of {c} include {s}. See a clinician if they persist."),
    ("How is {c} treated?", "Treatment of {c} usually combines {t} with regular follow-up."),
    ("Who is at risk for {c}?", "Risk of {c} rises with {r}."),
    ("How is {c} diagnosed?", "{c} is diagnosed from the history, an examination and {d}."),
]
DETAILS = {
    "s": ["fatigue and shortness of breath", "pain and swelling", "headache and nausea", "itching and rash"],
    "t": ["medication", "lifestyle changes", "physical therapy", "diet and exercise"],
    "r": ["age and family history", "smoking", "obesity", "a sedentary lifestyle"],
    "d": ["blood tests", "imaging", "a physical exam", "lung-function tests"],
}
PLACEHOLDERS = ["", "", "", "<nooutput>", "N/A"]


MIN_ROWS = 50  # the planted bad lines sit at lines 10 to 40


def write_demo_dataset(path: Path, rows: int = 600, seed: int = 7) -> Path:
    if rows < MIN_ROWS:
        raise ValueError(f"the demo dataset needs at least {MIN_ROWS} rows (its bad lines are planted up to line 40), "
                         f"got {rows}")
    rng = random.Random(seed)
    lines: list[str] = []
    for _ in range(rows):
        condition = rng.choice(CONDITIONS)
        question, answer = rng.choice(QUESTIONS)
        fill = {k: rng.choice(v) for k, v in DETAILS.items()}
        output = answer.format(c=condition, **fill)
        roll = rng.random()
        if roll < 0.15:
            output = rng.choice(PLACEHOLDERS)
        age = rng.randint(18, 90)
        record = {"instruction": question.format(c=condition) + f" The patient is {age}.",
                  "input": "", "output": output, "topic": condition}
        lines.append(json.dumps(record))
        if roll > 0.93 and lines:
            lines.append(lines[-1])
    lines[10] = lines[10][: len(lines[10]) // 2]
    lines[20] = json.dumps(["not", "an", "object"])
    lines[30] = json.dumps({"instruction": "What is gout?", "input": ""})
    lines[40] = json.dumps({"instruction": "How many bones are in the hand?", "input": "", "output": 27})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
