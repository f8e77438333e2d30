"""Controlled defects: does curation find planted defects, and does the model improve?

    make bench-defects    # or: .venv/bin/python bench/defects.py [--rows 3000 --steps 10 ...]

In the manner of the CLEAR benchmark: clean records (MedQuAD's answered pairs and LIMA's
single-turn English pairs from ../shared, each deduplicated) get defects planted at known
rows at the rates of ``autodp.defects.DEFECT_CLASSES`` (30% of rows in all). The ground
truth stays in this script: the store, the search and the agent see only the defective
JSONL. Two clean evaluation sets are split off first: one the search steers by (its
trusted ``--eval`` set) and a test set that nothing in the search ever scores.

Figures:
1. the pool: each operator that targets a class, alone on the whole defective set: recall,
   precision (a touched row is a false alarm only when clean) and F1;
2. per method (agent with feedback, random search, one-shot agent): the published
   strategy's recall per class, the share of clean rows it kept, and its confirmed verdict
   (``--confirm-top`` candidates against raw at several seeds, on the search's references);
3. on a test set that nothing in the search ever scores, each published strategy against raw
   and the agent's against random's and one-shot's: their sample outputs by the search's
   signal (the gradient value's flow form, no fine-tune); at the confirmation budget, the
   strategies applied to the confirmation draw (the search's own adapters, scored on the
   test set: mean ΔNLL over seeds and references with its 95% interval, and the win rate,
   the share of references on which the first arm's NLL is lower, with its interval over the
   references); then, for the first
   search seed, by the reference judge (win rate and mean ΔNLL with bootstrap 95%
   intervals, ties within the noise floor of two raw models that differ only in their seed;
   ``--steps`` LoRA steps each, trained here when the search's ``--signal`` trained none);
4. the ceiling: the clean rows by the planted truth (perfect curation) against the same rows
   with their defects, on the test set: the search sample's by the search's signal and the
   reference judge; the confirmation draw's as the search confirms (its seeds at its
   confirmation budget), and the sample's so too, as the search confirmed before its arms
   trained on a draw.
   ``--ceiling-only --steps N`` prints only this, at N LoRA steps, without the searches;
   ``--methods agent`` runs only the searches named;
5. with ``--search-seeds 0 1 2``: the searches again per seed on the same data (each seed its
   own sample, draw and proposals), and section 3's confirmation figures side by side, with
   how often the agent is at least as good as each rival (their interval not below zero);
6. ``--compare-only``: ``autodp compare`` (the gradient-alignment value, no fine-tuning) of
   the set's truth-clean rows against the whole defective set, on the test references.

Artifacts persist under $AUTODP_HOME/bench-defects, so a second run only re-prints.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from verdicts import (  # bench/verdicts.py
    TestSet,
    confirmed_figure,
    confirmed_text,
    confirmed_verdict,
    flow_figure,
    flow_verdict,
    line,
    published_on_test,
    raw_models,
    reference_figure,
    trained_model,
)
from workspace import workspace  # bench/workspace.py

from autodp import defects
from autodp.artifacts import DATASETS, RECORDS_FILE
from autodp.execution.executor import apply_strategy
from autodp.execution.strategy import Strategy
from autodp.ingest import ingest
from autodp.llm.endpoints import LOCAL_MODEL, ROLES, Endpoint
from autodp.llm.server import LocalServer
from autodp.models import lora
from autodp.operators.cleaning.language_filter import detect_language
from autodp.operators.resources import Resources
from autodp.search.config import LoraSettings, SearchConfig
from autodp.search.confirmation import NOT_SHOWN, budget_text
from autodp.search.data_card import tied_words
from autodp.search.evaluation import (
    evaluation_split,
    load_examples,
)
from autodp.search.loop import SearchContext, sample, search
from autodp.store import ArtifactStore, LocalStore

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = REPO.parent / "shared" / "datasets"
MEDQUAD = DATASETS_DIR / "medquad" / "medquad_answered_alpaca.jsonl.gz"
LIMA = DATASETS_DIR / "lima" / "lima.json"
METHODS = ("agent", "random", "one_shot")
LIMA_SHARE = 0.15


def clean_sources() -> tuple[list[dict[str, Any]], list[str]]:
    """(clean records, non-English texts): MedQuAD answered and LIMA single-turn English
    pairs, without repeated instructions or answers; LIMA's non-English answers."""
    with gzip.open(MEDQUAD, "rt", encoding="utf-8") as lines:
        medquad = [json.loads(line) for line in lines]
    lima, foreign = [], []
    for row in json.loads(LIMA.read_text(encoding="utf-8")):
        if row.get("history"):
            continue
        code, probability = detect_language(row["output"]).split(":")
        if code != "en" and float(probability) > 0.9:
            foreign.append(row["output"])
        elif code == "en":
            lima.append(row)
    records, seen = [], set()
    for source, rows in (("medquad", medquad), ("lima", lima)):
        for row in rows:
            record = {"instruction": row["instruction"].strip(), "input": (row.get("input") or "").strip(),
                      "output": row["output"].strip(), "source": source}
            keys = (record["instruction"].lower(), record["output"].lower())
            if len(record["output"]) < 40 or keys[0] in seen or keys[1] in seen:
                continue
            seen.update(keys)
            records.append(record)
    return records, defects.foreign_paragraphs(foreign)


def build(folder: Path, rows: int, eval_rows: int, test_rows: int, seed: int) -> dict[str, Path]:
    """The defective JSONL, its ground truth and the two clean evaluation sets."""
    paths = {name: folder / f"{name}-{rows}-seed{seed}.jsonl" for name in ("data", "truth", "eval", "test")}
    if all(p.exists() for p in paths.values()):
        return paths
    records, foreign = clean_sources()
    records = _without_near_duplicates(records, folder)
    rng = random.Random(seed)
    lima = [r for r in records if r["source"] == "lima"]
    medquad = [r for r in records if r["source"] == "medquad"]
    rng.shuffle(lima)
    rng.shuffle(medquad)
    held = eval_rows + test_rows
    held_lima = round(held * LIMA_SHARE)
    held_out = lima[:held_lima] + medquad[:held - held_lima]
    rng.shuffle(held_out)
    wanted_lima = round(rows * LIMA_SHARE)
    pool = lima[held_lima:][:wanted_lima] + medquad[held - held_lima:][:rows - wanted_lima]
    defective, truth = defects.inject([_pair(r) for r in pool], foreign, seed=seed, size=rows)
    _write(paths["data"], defective)
    _write(paths["truth"], truth)
    _write(paths["eval"], [_pair(r) for r in held_out[:eval_rows]])
    _write(paths["test"], [_pair(r) for r in held_out[eval_rows:]])
    return paths


def _without_near_duplicates(records: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    """The clean base keeps one record per near-duplicate group, by near_dedup's own
    definition (word 3-gram MinHash, Jaccard >= 0.7): MedQuAD's templated answers (the same
    boilerplate paragraph under a different symptom list) would otherwise count as clean
    rows that a deduplicator "wrongly" drops."""
    store = LocalStore(folder / "clean-base")
    _write(folder / "clean-base.jsonl", records)
    key = ingest(str(folder / "clean-base.jsonl"), store)["dataset_key"]
    applied = apply_strategy(key, Strategy.from_data(["near_dedup"]), store)
    kept = set(pq.read_table(store.file_location(DATASETS, applied["output_key"], RECORDS_FILE),
                             columns=["source_row"])["source_row"].to_pylist())
    return [record for row, record in enumerate(records, start=1) if row in kept]


def touched_rows(store: ArtifactStore, input_key: str, output_key: str) -> set[int]:
    """source_rows of the input that the output dropped or changed."""
    def rows(key: str) -> dict[int, str]:
        table = pq.read_table(store.file_location(DATASETS, key, RECORDS_FILE), columns=["source_row", "record_id"])
        return dict(zip(table["source_row"].to_pylist(), table["record_id"].to_pylist()))

    before, after = rows(input_key), rows(output_key)
    return {row for row, record in before.items() if after.get(row) != record}


def pool_detection(store: ArtifactStore, dataset_key: str, truth: list[dict], resources: Resources) -> None:
    print("\n1. The pool: each operator alone on the defective set", flush=True)
    print(f"  {'defect class':<20} {'rate':>5} {'rows':>5}  {'operator':<26} {'recall':>6} {'precision':>9} "
          f"{'F1':>5}  {'seconds':>7}")
    for name, defect in defects.DEFECT_CLASSES.items():
        for operator in defect.operators:
            started = time.perf_counter()
            applied = apply_strategy(dataset_key, Strategy.from_data([operator]), store, resources)
            touched = touched_rows(store, dataset_key, applied["output_key"])
            found = defects.detection(truth, touched)
            figure = defects.scores(found[name]["found"], found[name]["rows"], found[defects.CLEAN]["touched"])
            print(f"  {name:<20} {defect.rate:>5.0%} {found[name]['rows']:>5}  {operator:<26} "
                  f"{figure['recall']:>6.3f} {_fmt(figure['precision']):>9} {figure['f1']:>5.3f}  "
                  f"{time.perf_counter() - started:>7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000, help="rows of the defective dataset")
    parser.add_argument("--eval-rows", type=int, default=100, help="clean references the search steers by")
    parser.add_argument("--test-rows", type=int, default=200, help="clean references only this script scores")
    parser.add_argument("--model", default="smollm2", help="smollm2 (default) or tiny")
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="LoRA steps per candidate (batch 8)")
    parser.add_argument("--signal", choices=("gradient_flow", "reference"), default=SearchConfig().signal,
                        help="what scores the searches' candidates (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="the defective set's, and the first search's")
    parser.add_argument("--search-seeds", type=int, nargs="+",
                        help="run the searches once per seed on the same data (default: --seed alone); the "
                             "reference judge, the ceiling and the head-to-head at 10 steps are the first seed's")
    parser.add_argument("--confirm-top", type=int, default=SearchConfig().confirm_top,
                        help="candidates each search confirms against raw before publishing (0: none)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="the searches to run (default: all three; the head-to-head needs the agent's)")
    parser.add_argument("--pool-only", action="store_true", help="only the pool's detection figures")
    parser.add_argument("--ceiling-only", action="store_true",
                        help="no searches: only the truth-clean sample's model against the raw one at --steps")
    parser.add_argument("--compare-only", action="store_true",
                        help="no searches: only autodp compare of the defective set against its truth-clean rows")
    args = parser.parse_args()

    folder, settings, store = workspace("bench-defects")
    paths = build(folder, args.rows, args.eval_rows, args.test_rows, args.seed)
    truth = [json.loads(line) for line in paths["truth"].read_text(encoding="utf-8").splitlines()]
    dataset_key = ingest(str(paths["data"]), store)["dataset_key"]
    classes = sum(1 for row in truth if row["defect"] != defects.CLEAN)
    print(f"defective set: {len(truth)} rows ({classes / len(truth):.1%} defective, {len(defects.DEFECT_CLASSES)} "
          f"classes), dataset {dataset_key[:12]}; clean references: {args.eval_rows} for the search, "
          f"{args.test_rows} for the test", flush=True)
    if args.compare_only:
        test_key = ingest(str(paths["test"]), store)["dataset_key"]
        _report_compare(store, dataset_key, truth, paths, folder, test_key, args, settings)
        return
    pool_detection(store, dataset_key, truth, Resources(settings=settings))
    if args.pool_only:
        return

    eval_key = ingest(str(paths["eval"]), store)["dataset_key"]
    test_key = ingest(str(paths["test"]), store)["dataset_key"]
    test_split = evaluation_split(store, dataset_key, args.test_rows, args.seed, test_key,
                                  Resources(settings=settings))
    test = TestSet(store, load_examples(store, test_split["evaluation_key"], settings)[0], args.model, args.seed,
                   settings)
    seeds = args.search_seeds or [args.seed]
    configs = {seed: {method: SearchConfig(iterations=args.iterations, candidates=args.candidates, method=method,
                                           base=args.model, sample_size=args.sample, eval_dataset=eval_key,
                                           lora=LoraSettings(steps=args.steps), seed=seed,
                                           confirm_top=args.confirm_top, signal=args.signal)
                      for method in args.methods} for seed in seeds}
    if args.ceiling_only:
        _report_ceiling(store, dataset_key, truth, configs[seeds[0]][args.methods[0]], None, test, folder, settings)
        return
    with LocalServer(port=0, log_path=folder / "llm.log") as server:
        resources = Resources(settings=settings,
                              endpoints={role: Endpoint(role, server.base_url, LOCAL_MODEL, trusted=True)
                                         for role in ROLES})
        agents, heads = {}, {}
        for seed in seeds:
            results = {}
            for method in args.methods:
                started = time.perf_counter()
                result = search(dataset_key, store, configs[seed][method], resources=resources,
                                progress=lambda message, method=method: print(f"  [{method}] {message}", flush=True))
                results[method] = (result, time.perf_counter() - started)
            heads[seed] = _report_searches(store, dataset_key, truth, results, test, args, configs[seed], resources,
                                           judge=seed == seeds[0])
            agents[seed] = results["agent"][0] if "agent" in results else None
        _report_ceiling(store, dataset_key, truth, configs[seeds[0]][args.methods[0]], agents[seeds[0]], test,
                        folder, settings)
        if len(seeds) > 1:
            _report_seeds(heads, args)


def _report_searches(store, dataset_key, truth, results, test: TestSet, args, configs, resources,
                     judge: bool) -> dict[str, dict[str, Any]]:
    """Sections 2 and 3 for one search seed; the published strategies against raw and the
    agent's against its rivals at the confirmation budget on the test set (for ``_report_seeds``).
    ``judge``: also the reference judge's 10-step models."""
    settings = resources.settings
    config = configs[next(iter(results))]
    print(f"\n2. The published strategies, search seed {config.seed} ({args.iterations} iterations x "
          f"{args.candidates} candidates, sample {args.sample}, scored by {args.signal}, LoRA {args.steps} steps x 8 "
          f"on {args.model}; agent and data LLM: {LOCAL_MODEL})")
    header = "".join(f" {name[:10]:>10}" for name in defects.DEFECT_CLASSES)
    print(f"  {'method':<10} {'recall per class:':<18}{header}  clean kept  search")
    for method, (result, seconds) in results.items():
        touched = touched_rows(store, dataset_key, result["published_dataset_key"])
        found = defects.detection(truth, touched)
        recalls = "".join(f" {_fmt(found[name]['recall']):>10}" for name in defects.DEFECT_CLASSES)
        print(f"  {method:<10} {'':<18}{recalls}  {found[defects.CLEAN]['kept_share']:>10.3f}  {seconds:>5.0f} s")
        origins, selection = result["data_card"]["search"]["origins"], result["data_card"]["search"]["selection"]
        print(f"    strategy: {' > '.join(s['operator'] for s in result['best']['steps'])} "
              f"(proposed by: {result['best']['origin']}; chosen by {selection['rule']}, of {selection['tied']} "
              f"{tied_words(selection, of_best_scored=True)}); "
              f"{result['data_card']['search']['strategies_evaluated']} strategies evaluated, by origin "
              f"{', '.join(f'{k} {v}' for k, v in origins.items())}", flush=True)
        print(f"    confirmed: {confirmed_text(result['data_card']['confirmation'], result['best'])}")
    print(f"\n3. The published strategies on the {len(test.examples)} clean test references nothing in the search "
          f"scored")
    confirmed = published_on_test(store, dataset_key, {method: result for method, (result, _) in results.items()},
                                  config, test, resources)
    if not judge:
        return confirmed
    raw, noise = raw_models(store, dataset_key, config, test, settings)
    print(f"  by the reference judge: models of LoRA {config.lora.steps} steps x {config.lora.batch_size} x "
          f"{config.lora.max_length} tokens (tie margin {noise['tie_margin']}: two raw models that differ in their seed)")
    best = {method: trained_model(store, result["best"], config, settings) for method, (result, _) in results.items()}
    for method in results:
        line(f"{method} best vs raw", reference_figure(test.verdict(best[method], raw, noise["tie_margin"])))
    for rival in (m for m in ("random", "one_shot") if m in results and "agent" in results):
        line(f"agent best vs {rival} best", reference_figure(test.verdict(best["agent"], best[rival],
                                                                          noise["tie_margin"])))
    return confirmed


def _report_seeds(heads: dict[int, dict[str, dict[str, Any]]], args) -> None:
    """Section 5: the searches over seeds, at the confirmation budget on the test set. The
    agent is at least as good as a rival in a seed when their head-to-head interval does not
    lie below zero."""
    rivals = [f"agent vs {r}" for r in ("random", "one_shot") if r in args.methods and "agent" in args.methods]
    names = [*args.methods, *rivals, "raw reseeded"]
    print(f"\n5. Over {len(heads)} search seeds, on the test set at the confirmation budget (dNLL, positive favours "
          f"the first named; win rate of the first):")
    labels = [name if " vs " in name else f"{name} vs raw" for name in names]
    print((f"  {'seed':<5}" + "".join(f" {label:<36}" for label in labels)).rstrip())
    for seed, confirmed in heads.items():
        print((f"  {seed:<5}" + "".join(
            f" {_short(confirmed[name]) if name in confirmed else '-':<36}" for name in names)).rstrip(), flush=True)
    for name in rivals:
        rows = [confirmed[name] for confirmed in heads.values() if name in confirmed]
        as_good = sum(row["delta_nll"]["ci95"][1] >= 0 for row in rows)  # the interval not below zero
        print(f"  {name}: the agent at least as good in {as_good} of {len(rows)} seeds; mean win rate "
              f"{sum(row['win_rate']['rate'] for row in rows) / max(len(rows), 1):.3f}")
    nulls = [confirmed["raw reseeded"] for confirmed in heads.values() if "raw reseeded" in confirmed]
    called = sum(row["verdict"] != NOT_SHOWN for row in nulls)
    print(f"  raw reseeded vs raw (the same rows, other seeds): the confirmation called a difference in {called} of "
          f"{len(nulls)} seeds")


def _short(verdict: dict[str, Any]) -> str:
    delta = verdict["delta_nll"]
    return (f"{delta['mean']:+.4f} [{delta['ci95'][0]:+.4f}, {delta['ci95'][1]:+.4f}] "
            f"w {verdict['win_rate']['rate']:.2f}")


def _report_ceiling(store, dataset_key, truth, config, result, test: TestSet, folder, settings) -> None:
    """Perfect curation: the rows that the planted truth calls clean, of the search sample
    and of the confirmation's draw, judged against the same rows with their defects on the test
    set: by the search's signal and the reference judge (the sample, as the search scores it)
    and at the confirmation budget (the draw, as the search confirms; the sample beside it,
    as the search confirmed when its arms trained on the sample)."""
    run = sample(SearchContext(store, config, Resources(settings=settings)), dataset_key)  # stored: a lookup
    defective = {row["row"] for row in truth if row["defect"] != defects.CLEAN}
    clean_key, clean, rows = _truth_clean(store, run.sample_key, defective, folder)
    print(f"\n4. The ceiling: the sample's {clean} clean rows of {rows} by the planted truth (perfect curation of the "
          f"sample) against the raw sample, on the test set")
    line("truth-clean vs raw", flow_figure(flow_verdict(store, clean_key, run.sample_key, run.sample_key, test,
                                                        settings)))
    drawn = {"on the draw": run.confirm_draw["dataset_key"]} if run.confirm_draw else {}
    arms = [(where, key, *_truth_clean(store, key, defective, folder)) for where, key in drawn.items()]
    arms.append(("on the sample", run.sample_key, clean_key, clean, rows))
    for where, raw_key, clean_arm, kept, total in arms:
        started = time.perf_counter()
        confirmation = confirmed_verdict(clean_arm, raw_key, config, test)
        line(f"truth-clean vs raw {where}", f"{confirmed_figure(confirmation)}: {kept} of {total} rows, "
             f"{config.confirm_seeds} seeds at {budget_text(config.confirm_lora.material())} "
             f"({time.perf_counter() - started:.0f} s for adapters and scores not stored yet)")
    started = time.perf_counter()
    raw, noise = raw_models(store, dataset_key, config, test, settings)
    adapters = {"raw": raw, "clean": lora.finetune(clean_key, store, base=config.base, lora=config.lora,
                                                   settings=settings)["adapter_key"]}
    print(f"  by the reference judge at LoRA {config.lora.steps} steps ({time.perf_counter() - started:.0f} s for the "
          f"adapters not stored yet); a raw model reseeded scores win rate {noise['win_rate']:.3f}, mean dNLL "
          f"{noise['delta_nll']['mean']:+.4f} against the first (tie margin {noise['tie_margin']})")
    line("truth-clean vs raw", reference_figure(test.verdict(adapters["clean"], adapters["raw"],
                                                             noise["tie_margin"])))
    if result is not None:
        line("agent best vs truth-clean", reference_figure(test.verdict(trained_model(store, result["best"], config,
                                                                                      settings),
                                                                        adapters["clean"], noise["tie_margin"])))


def _truth_clean(store, dataset_key: str, defective: set[int], folder: Path) -> tuple[str, int, int]:
    """(key, rows, rows of the whole) of the dataset's rows that the planted truth calls clean."""
    records = pq.read_table(store.file_location(DATASETS, dataset_key, RECORDS_FILE)).to_pylist()
    clean = [_pair(r) for r in records if r["source_row"] not in defective]
    path = folder / f"oracle-{dataset_key[:12]}.jsonl"
    _write(path, clean)
    return ingest(str(path), store)["dataset_key"], len(clean), len(records)


def _report_compare(store, dataset_key, truth, paths, folder, test_key, args, settings) -> None:
    """``autodp compare`` (the gradient-alignment value, no fine-tuning) of the defective set
    against its rows that the planted truth calls clean, on the clean test references."""
    from autodp.search.compare import compare

    defective = {row["row"] for row in truth if row["defect"] != defects.CLEAN}
    records = [json.loads(line) for line in paths["data"].read_text(encoding="utf-8").splitlines()]
    clean_path = folder / f"truth-clean-{args.rows}-seed{args.seed}.jsonl"
    _write(clean_path, [r for row, r in enumerate(records, start=1) if row not in defective])
    clean_key = ingest(str(clean_path), store)["dataset_key"]
    result = compare(store, clean_key, dataset_key, test_key, base=args.model, seed=args.seed,
                     resources=Resources(settings=settings))
    low, high = result["ci95"]
    print(f"\nautodp compare: truth-clean rows (A, {result['rows']['a']['compared']} of "
          f"{result['rows']['a']['total']}) against the defective set (B, {result['rows']['b']['compared']} of "
          f"{result['rows']['b']['total']}) by {result['signal']} on {result['references']['examples']} clean references: "
          f"A - B {result['difference']:+.5f} [{low:+.5f}, {high:+.5f}], preferred {result['preferred']}; "
          f"{result['features_computed']} gradients computed, {result['seconds']} s", flush=True)
    if result["size_warning"]:
        print(f"  {result['size_warning']}", flush=True)


def _pair(record: dict[str, Any]) -> dict[str, Any]:
    return {"instruction": record["instruction"], "input": record["input"], "output": record["output"]}


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
