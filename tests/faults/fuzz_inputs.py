"""Generated source files for the reader fuzz test: every supported format (JSONL, JSON
array, CSV, TSV, Parquet, ShareGPT; each also gzipped), valid rows mixed with the damage
real exports carry. Deterministic per (seed, index), so a failure names its own repro."""

from __future__ import annotations

import gzip
import io
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "sharegpt")
DAMAGE = ("none", "truncate", "junk", "huge_field", "deep_nesting", "bom", "latin1", "utf16", "duplicate_keys",
          "nan_infinity", "nul_bytes", "wrong_types", "empty", "blank_lines", "flipped_bytes")
HARMLESS = ("none", "bom", "blank_lines")
WORDS = "the patient dose fever aspirin héllo 日本語 émigré naïve <br> \\n \t tab, comma \"quoted\" ;".split(" ")


def _text(rng: random.Random, longest: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, longest)))


def _record(rng: random.Random, sharegpt: bool) -> dict:
    if sharegpt:
        turns = [{"from": rng.choice(["human", "gpt", "system", "user", "assistant", "other"]), "value": _text(rng)}
                 for _ in range(rng.randint(0, 4))]
        return {"conversations": turns}
    record = {"instruction": _text(rng), "output": _text(rng)}
    if rng.random() < 0.5:
        record["input"] = _text(rng, 4)
    return record


def _damage_record(rng: random.Random, record: dict, damage: str) -> dict:
    if damage == "huge_field":
        record = {**record, "output": "x" * rng.choice([70_000, 1_100_000])}
    elif damage == "deep_nesting":
        depth = rng.choice([50, 600, 3000])
        record = {**record, "input": json.loads("[" * depth + "1" + "]" * depth) if depth < 900 else "flat"}
    elif damage == "wrong_types":
        record = {**record, "output": rng.choice([None, 7, 3.5, True, ["a"], {"k": "v"}])}
    return record


def _serialize(rng: random.Random, fmt: str, records: list[dict], damage: str) -> bytes:
    if fmt in ("jsonl", "sharegpt"):
        lines = [json.dumps(r, ensure_ascii=rng.random() < 0.3) for r in records]
        if damage == "deep_nesting":
            depth = rng.choice([1100, 5000, 100_000])
            lines.insert(rng.randint(0, len(lines)), "[" * depth + "]" * depth)
        if damage == "duplicate_keys" and lines:
            lines[0] = '{"instruction": "a", "instruction": "b", "output": "c", "output": "d"}'
        if damage == "nan_infinity":
            lines.append('{"instruction": NaN, "output": Infinity}')
            lines.append('{"instruction": "q", "output": "a", "score": -Infinity}')
        if damage == "blank_lines":
            lines = [line for pair in zip(lines, [""] * len(lines)) for line in pair] + ["   ", "\r"]
        return ("\n".join(lines) + ("\n" if rng.random() < 0.7 else "")).encode("utf-8")
    if fmt == "json":
        text = json.dumps(records, ensure_ascii=rng.random() < 0.3, indent=rng.choice([None, 2]))
        if damage == "deep_nesting":
            depth = rng.choice([1100, 5000, 100_000])
            text = "[" + "[" * depth + "]" * depth + ("," + text[1:] if len(text) > 2 else "]")
        if damage == "duplicate_keys":
            text = '[{"instruction": "a", "instruction": "b", "output": "c"}' + ("," + text[1:] if len(text) > 2 else "]")
        if damage == "nan_infinity":
            text = '[{"instruction": NaN, "output": Infinity}' + ("," + text[1:] if len(text) > 2 else "]")
        return text.encode("utf-8")
    if fmt in ("csv", "tsv"):
        buffer = io.StringIO()
        import csv

        writer = csv.writer(buffer, delimiter="\t" if fmt == "tsv" else ",")
        header = ["instruction", "input", "output"]
        if damage == "duplicate_keys":
            header = ["instruction", "output", "output"]
        writer.writerow(header)
        for record in records:
            cells = [str(record.get(h, "")) for h in header]
            if rng.random() < 0.1:
                cells = cells[: rng.randint(0, 2)] + (["extra"] if rng.random() < 0.5 else [])
            writer.writerow(cells)
        if damage == "nan_infinity":
            writer.writerow(["NaN", "", "Infinity"])
        return buffer.getvalue().encode("utf-8")
    rows = [{k: (v if v is None or isinstance(v, str) else json.dumps(v)) for k, v in r.items()} for r in records]
    table = pa.Table.from_pylist(rows) if rows else pa.table({"instruction": pa.array([], pa.string())})
    if damage == "wrong_types" and records:  # a whole column of the wrong type
        table = table.set_column(0, table.schema.names[0], pa.array(range(table.num_rows), pa.int64()))
    if damage == "nan_infinity" and records:
        table = table.append_column("score", pa.array([float("nan")] * table.num_rows))
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _damage_bytes(rng: random.Random, data: bytes, damage: str) -> bytes:
    if damage == "truncate" and data:
        return data[: rng.randint(0, len(data) - 1)]
    if damage == "junk":
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400)))
        at = rng.randint(0, len(data))
        return data[:at] + junk + data[at:]
    if damage == "bom":
        return b"\xef\xbb\xbf" + data
    if damage in ("latin1", "utf16") and not data.startswith(b"PAR1"):
        return data.decode("utf-8").encode("latin-1" if damage == "latin1" else "utf-16", "replace")
    if damage == "nul_bytes" and data:
        at = rng.randint(0, len(data))
        return data[:at] + b"\x00" * rng.randint(1, 8) + data[at:]
    if damage == "empty":
        return rng.choice([b"", b"\n", b"   \n\n"])
    if damage == "flipped_bytes" and data:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 10)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    return data


def write_fuzzed_file(folder: Path, seed: int, index: int) -> tuple[Path, str, str, bool]:
    """One generated file: (path, format, damage, whether it must ingest: its only damage is
    one a reader must take in its stride)."""
    rng = random.Random(seed * 1_000_003 + index)
    fmt, damage = rng.choice(FORMATS), rng.choice(DAMAGE)
    sharegpt = fmt == "sharegpt"
    records = [_damage_record(rng, _record(rng, sharegpt), damage if rng.random() < 0.3 else "none")
               for _ in range(rng.randint(0, 40))]
    data = _damage_bytes(rng, _serialize(rng, fmt, records, damage), damage)
    suffix = {"sharegpt": ".jsonl", "jsonl": ".jsonl", "json": ".json", "csv": ".csv", "tsv": ".tsv",
              "parquet": ".parquet"}[fmt]
    if rng.random() < 0.2:
        data = gzip.compress(data, mtime=0)
        if rng.random() < 0.8:
            suffix += ".gz"
        if damage == "truncate" and rng.random() < 0.5:
            data = data[: max(1, len(data) // 2)]
    path = folder / f"fuzz-{seed}-{index}{suffix}"
    path.write_bytes(data)
    harmless = damage in HARMLESS and not (fmt == "parquet" and damage == "bom")  # a BOM breaks binary Parquet
    return path, fmt, damage, harmless and len(records) >= 3
