"""Runs one peer operator (py-data-juicer or datatrove) over rows given as JSONL and prints
{"seconds": median, "rows_out": n, "cores": c}. Called by bench/operators.py with the
peers' own virtualenv (bench/.venv-peers), never imported by autodp."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PLACEHOLDERS = {"noinput", "nooutput", "na", "none", "null", "nan", "nil", "empty", "blank"}


def load(path: Path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def data_juicer(op: str, rows: list[dict], threshold: float):
    from data_juicer.core.data import NestedDataset

    common = {"num_proc": 2}
    if op == "length_bounds":
        from data_juicer.ops.filter.text_length_filter import TextLengthFilter
        operator = TextLengthFilter(min_len=1, max_len=16000, text_key="output", **common)
    elif op == "pii_redaction":
        from data_juicer.ops.mapper.clean_email_mapper import CleanEmailMapper
        operator = CleanEmailMapper(text_key="output", **common)
    elif op == "normalize_text":
        from data_juicer.ops.mapper.whitespace_normalization_mapper import (
            WhitespaceNormalizationMapper,
        )
        operator = WhitespaceNormalizationMapper(text_key="output", **common)
    elif op == "exact_dedup":
        from data_juicer.ops.deduplicator.document_deduplicator import DocumentDeduplicator
        operator = DocumentDeduplicator(lowercase=True, text_key="text", **common)
    elif op == "near_dedup":
        from data_juicer.ops.deduplicator.document_minhash_deduplicator import (
            DocumentMinhashDeduplicator,
        )
        operator = DocumentMinhashDeduplicator(window_size=3, num_permutations=128, jaccard_threshold=threshold,
                                               text_key="text", **common)
    else:
        return None
    rows = [{**r, "text": f"{r['instruction']} {r['input']} {r['output']}"} for r in rows]

    def run():
        dataset = NestedDataset.from_list(rows)
        return len(operator.run(dataset))
    return run, 2


def datatrove(op: str, rows: list[dict], threshold: float):
    from datatrove.data import Document

    def docs():
        return (Document(text=r["output"], id=str(i), metadata={"instruction": r["instruction"]})
                for i, r in enumerate(rows))

    if op == "length_bounds":
        from datatrove.pipeline.filters import LambdaFilter
        step = LambdaFilter(lambda d: 1 <= len(d.text) <= 16000 and 3 <= len(d.metadata["instruction"]) <= 8000)
    elif op == "drop_empty_output":
        import re

        from datatrove.pipeline.filters import LambdaFilter
        step = LambdaFilter(lambda d: bool(d.text.strip()) and re.sub(r"[^a-z0-9]", "", d.text.lower()) not in PLACEHOLDERS)
    elif op == "pii_redaction":
        from datatrove.pipeline.formatters import PIIFormatter
        step = PIIFormatter(remove_emails=True, remove_ips=True, only_remove_public_ips=False)
    elif op == "near_dedup":
        return datatrove_minhash(rows, threshold), 1
    else:
        return None

    def run():
        return sum(1 for _ in step.run(docs(), 0, 1))
    return run, 1


def datatrove_minhash(rows: list[dict], threshold: float):
    """The four-stage datatrove MinHash pipeline on local disk (one task, one worker)."""
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )

    del threshold  # datatrove sets similarity through buckets x hashes; 14 x 9 matches 0.7 at 128 perms
    config = MinhashConfig(n_grams=3, num_buckets=14, hashes_per_bucket=9)

    def run():
        with tempfile.TemporaryDirectory() as tmp:
            kept = []

            def source(data, rank=0, world_size=1):
                yield from (Document(text=f"{r['instruction']} {r['input']} {r['output']}", id=str(i))
                            for i, r in enumerate(rows))

            def sink(data, rank=0, world_size=1):
                for doc in data:
                    kept.append(doc.id)
                    yield doc

            stages = [
                [source, MinhashDedupSignature(output_folder=f"{tmp}/sigs", config=config)],
                [MinhashDedupBuckets(input_folder=f"{tmp}/sigs", output_folder=f"{tmp}/buckets", config=config)],
                [MinhashDedupCluster(input_folder=f"{tmp}/buckets", output_folder=f"{tmp}/ids", config=config)],
                [source, MinhashDedupFilter(input_folder=f"{tmp}/ids"), sink],
            ]
            for number, pipeline in enumerate(stages):
                tasks = config.num_buckets if number == 1 else 1  # the buckets stage runs one task per bucket
                LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1,
                                      logging_dir=f"{tmp}/logs{number}", skip_completed=False).run()
            return len(kept)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=["data_juicer", "datatrove"])
    parser.add_argument("op")
    parser.add_argument("rows", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.7)
    args = parser.parse_args()
    rows = load(args.rows)
    made = {"data_juicer": data_juicer, "datatrove": datatrove}[args.tool](args.op, rows, args.threshold)
    if made is None:
        print(json.dumps(None))
        return
    run, cores = made
    timings, rows_out = [], None
    for _ in range(args.runs):
        start = time.perf_counter()
        rows_out = run()
        timings.append(time.perf_counter() - start)
    sys.stdout.write(json.dumps({"seconds": statistics.median(timings), "rows_out": rows_out, "cores": cores}) + "\n")


if __name__ == "__main__":
    main()
