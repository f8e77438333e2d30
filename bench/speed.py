"""Where the main job's time goes, and what the fast paths change.

    make bench-speed   # or: .venv/bin/python bench/speed.py [--records N] [--no-main-job | --main-job-only]

1. Embeddings, rows a second of MiniLM on --records answered MedQuAD records (a prompt
   and a response each) in float32 (sentence-transformers as shipped, the peer) and in bfloat16
   (what autodp runs where the hardware multiplies it natively), and whether the two agree:
   the cosine between the two vectors of each text, and the decisions of each consumer run
   through autodp itself, one store per precision so neither reads the other's vectors:
   relevance_filter, mismatched_answer_filter and semantic_dedup drops, and the rows
   Distribution Preserving Sampling picks.
2. Embedding once per store: mismatched_answer_filter applied again by a fresh worker (new
   resources, an empty machine cache) on the warm store: texts embedded and seconds.
3. The search's signal and fine-tuning, on real pairs: per-record gradient features a second
   (what the baseline and every rewritten row cost), then LoRA training tokens a second of
   the base model (SmolLM2-135M) as autodp's training step runs, at the confirmation budget's
   shape (what the main job trains) and the reference signal's, each in float32 and under
   bfloat16 autocast, "(autodp)" marking the precision each trains in, and NLL scoring tokens
   a second in the order given (the peer) against batched by length (what autodp does) and
   under bfloat16 autocast (what the confirmation scores in; the reference signal scores in
   float32).
4. The main job (``autodp run`` with the Makefile's budget) from a fresh home, then again on
   the same home: seconds each, and the tasks' seconds it prints (--no-main-job skips it:
   it takes about twenty minutes on two cores; --main-job-only runs only it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from autodp.artifacts import DATASETS, DROPS_FILE, RECORDS_FILE
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.models.base import autocast, native_precision
from autodp.models.embeddings import Embedder
from autodp.models.lora import PRECISIONS
from autodp.operators.resources import Resources
from autodp.search.sampling import sample
from autodp.settings import Settings
from autodp.store import LocalStore
from autodp.text import prompt_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO.parent / "shared" / "datasets" / "medquad" / "medquad_all_flat.jsonl.gz"
MAPPING = {"instruction": "question", "output": "answer"}
CONSUMERS = ("relevance_filter", "mismatched_answer_filter", "semantic_dedup")
MAIN_JOB_BUDGET = ["--steps", "10", "--candidates", "2", "--confirm-top", "1"]  # the Makefile's RUN_BUDGET


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT)
    parser.add_argument("--records", type=int, default=1500)
    parts = parser.add_mutually_exclusive_group()
    parts.add_argument("--no-main-job", action="store_true", help="only the embedding, LoRA and scoring figures")
    parts.add_argument("--main-job-only", action="store_true", help="only the main job, cold and warm")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    import torch

    print(f"{torch.get_num_threads()} threads; native embedding precision here: {native_precision('cpu')}",
          flush=True)
    if not args.main_job_only:
        with tempfile.TemporaryDirectory(prefix="autodp-bench-speed-") as tmp:
            root = Path(tmp)
            source = _slice(args.dataset, args.records, root / "slice.jsonl")
            embeddings(source, root)
            lora_and_scoring(source, root)
    if not args.no_main_job:
        main_job(args.dataset)


def embeddings(source: Path, root: Path) -> None:
    rows = [json.loads(line) for line in source.open()]
    texts = [prompt_text({"instruction": r["question"], "input": ""}) for r in rows] + [r["answer"] for r in rows]
    vectors, speed = {}, {}
    for precision in ("float32", "bfloat16"):
        embedder = Embedder(precision=precision)
        embedder.encode(texts[:8])  # load the model outside the timing
        started = time.perf_counter()
        vectors[precision] = embedder.encode(texts[8:])
        speed[precision] = (len(texts) - 8) / (time.perf_counter() - started)
    cosine = np.sum(vectors["float32"] * vectors["bfloat16"], axis=1)
    print(f"\nembeddings, {len(texts) - 8} texts (prompts and responses of {len(rows)} records):")
    print(f"  float32 (peer)  {speed['float32']:7.1f} rows/s")
    print(f"  bfloat16        {speed['bfloat16']:7.1f} rows/s  ({speed['bfloat16'] / speed['float32']:.2f}x)")
    print(f"  cosine float32 vs bfloat16: min {cosine.min():.5f}, 1st percentile {np.percentile(cosine, 1):.5f}, "
          f"median {np.median(cosine):.5f}")

    decisions = {}
    for precision in ("float32", "bfloat16"):  # bfloat16 last: its warm store is the fresh worker's below
        store = LocalStore(root / f"store-{precision}")
        key = ingest(str(source), store, mapping=MAPPING)["dataset_key"]
        resources = _resources(root / f"home-{precision}", store, precision)
        decisions[precision] = {name: _dropped(store, key, name, resources) for name in CONSUMERS}
        picked = sample(key, store, size=200, clusters=8, frame_rows=None, resources=resources)["dataset_key"]
        decisions[precision]["sampling (rows picked)"] = set(
            pq.read_table(store.file_location(DATASETS, picked, RECORDS_FILE),
                          columns=["source_row"]).column("source_row").to_pylist())
    print("  decisions, float32 vs bfloat16 (rows; both / only float32 / only bfloat16):")
    for name in decisions["float32"]:
        a, b = decisions["float32"][name], decisions["bfloat16"][name]
        print(f"    {name:28s} {len(a):5d} vs {len(b):5d}; {len(a & b)} / {len(a - b)} / {len(b - a)}")

    fresh = _resources(root / "home-fresh-worker", store, "auto")
    started = time.perf_counter()
    apply_strategy(key, Strategy.from_data([{"operator": "mismatched_answer_filter"}]), store, fresh, reuse=False)
    print(f"  a fresh worker on the warm store: mismatched_answer_filter in {time.perf_counter() - started:.1f} s, "
          f"{fresh.embedder.computed} texts embedded, {fresh.embedder.cached} read from the store")


def lora_and_scoring(source: Path, root: Path) -> None:
    from peft import get_peft_model

    from autodp.models.base import load_base
    from autodp.models.lora import encode, lora_config
    from autodp.search.config import CONFIRM_BUDGET, LoraSettings
    from autodp.search.evaluation import Example, reference_nll
    from autodp.search.value_judge import extractor

    rows = [json.loads(line) for line in source.open()]
    examples = [Example(r["question"], r["answer"]) for r in rows[:200]]
    settings = Settings(home=root / "home-models", store_uri=str(root / "store-models"))

    features = extractor("smollm2", settings)
    pairs = [(e.prompt, e.reference) for e in examples]
    features.features(pairs[:4])  # loads the model
    started = time.perf_counter()
    features.features(pairs[4:])
    seconds = time.perf_counter() - started
    print(f"\ngradient features (the search's signal: per-record LoRA gradients, {features.lora.max_length}-token "
          f"windows, batch {features.batch_size}): {len(pairs) - 4} records in {seconds:.1f} s, "
          f"{(len(pairs) - 4) / seconds:.2f} records/s")

    model, tokenizer = load_base("smollm2", settings)
    model = get_peft_model(model, lora_config(LoraSettings()))
    for name, lora in (("confirmation (what the main job trains)", CONFIRM_BUDGET),
                       ("the reference signal's candidates", LoraSettings())):
        encoded = [encode(tokenizer, e.prompt, e.reference, lora.max_length) for e in examples]
        print(f"\nLoRA training, {name}: batch {lora.batch_size} x up to {lora.max_length} tokens, 10 steps each:")
        for precision in PRECISIONS:
            label = (f"{precision}{' autocast' if precision != 'float32' else ''}"
                     f"{' (autodp)' if precision == lora.precision else ''}")
            tokens, times = _train_steps(model, tokenizer, encoded, lora, precision)
            print(f"  {label:28s} {tokens / sum(times):7.0f} tokens/s  (median step {statistics.median(times):.2f} s)")

    model.eval()
    window = LoraSettings().max_length  # the reference signal's windows, which it scores in
    real = sum(len(encode(tokenizer, e.prompt, e.reference, window)["input_ids"]) for e in examples)
    print(f"\nscoring {len(examples)} references ({real} tokens, {window}-token windows), batch 8:")
    given = _timed(lambda: _nll_in_given_order(model, tokenizer, examples, window))
    by_length = _timed(lambda: reference_nll(model, tokenizer, examples, max_length=window))
    with autocast("bfloat16", "cpu"):
        half = _timed(lambda: reference_nll(model, tokenizer, examples, max_length=window))
    print(f"  in the order given (peer) {real / given[1]:7.0f} tokens/s")
    print(f"  batched by length         {real / by_length[1]:7.0f} tokens/s  ({given[1] / by_length[1]:.2f}x); "
          f"largest difference in an NLL {np.abs(given[0] - by_length[0]).max():.2e}")
    print(f"  bfloat16 autocast         {real / half[1]:7.0f} tokens/s  ({given[1] / half[1]:.2f}x); "
          f"largest difference in an NLL {np.abs(given[0] - half[0]).max():.2e}")


def _train_steps(model, tokenizer, encoded, lora, precision: str) -> tuple[int, list[float]]:
    """Ten timed steps of autodp's training loop (after one that warms up): real tokens and seconds a step."""
    import torch

    from autodp.models.lora import collate

    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lora.learning_rate)
    pick, tokens, times = random.Random(0), 0, []
    for step in range(11):
        batch = collate([encoded[pick.randrange(len(encoded))] for _ in range(lora.batch_size)],
                        tokenizer.pad_token_id)
        started = time.perf_counter()
        with autocast(precision, "cpu"):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step:
            times.append(time.perf_counter() - started)
            tokens += int(batch["attention_mask"].sum())
    return tokens, times


def main_job(dataset: Path) -> None:
    command = [str(REPO / ".venv" / "bin" / "autodp"), "run", str(dataset), "--map", "instruction=question",
               "--map", "output=answer",
               *MAIN_JOB_BUDGET]
    with tempfile.TemporaryDirectory(prefix="autodp-bench-main-job-") as home:
        env = {**os.environ, "AUTODP_HOME": home}
        env.pop("AUTODP_STORE", None)
        for label in ("cold (fresh home)", "warm (run again)"):
            print(f"\nmain job, {label}: {shlex.join(command)}", flush=True)
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, stdout=sys.stdout, stderr=subprocess.DEVNULL)
            print(f"main job, {label}: {time.perf_counter() - started:.0f} s", flush=True)


def _slice(dataset: Path, records: int, target: Path) -> Path:
    opener = gzip.open if dataset.suffix == ".gz" else open
    with opener(dataset, "rt") as handle:
        rows = [row for line in handle if (row := json.loads(line)).get("answer", "").strip()]
    chosen = random.Random(0).sample(rows, min(records, len(rows)))
    target.write_text("".join(json.dumps(row) + "\n" for row in chosen))
    return target


def _resources(home: Path, store: LocalStore, precision: str) -> Resources:
    settings = Settings(home=home, store_uri=str(store.root), embedding_precision=precision)
    return Resources(settings=settings).using(store)


def _dropped(store: LocalStore, key: str, operator: str, resources: Resources) -> set[int]:
    output = apply_strategy(key, Strategy.from_data([{"operator": operator}]), store, resources)["output_key"]
    return set(pq.read_table(store.file_location(DATASETS, output, DROPS_FILE),
                             columns=["source_row"]).column("source_row").to_pylist())


def _nll_in_given_order(model, tokenizer, examples, window: int) -> np.ndarray:
    """Batches of 8 in the order given: reference_nll on one batch at a time has nothing to sort."""
    from autodp.search.evaluation import reference_nll

    return np.concatenate([reference_nll(model, tokenizer, examples[start:start + 8], max_length=window)
                           for start in range(0, len(examples), 8)])


def _timed(work):
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


if __name__ == "__main__":
    main()
