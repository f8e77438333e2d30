"""The ``autodp`` command. Each subcommand calls the same step function a DAG task calls."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, get_args

from autodp.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as error:  # every failure ends as one readable line, not a traceback
        from autodp.curate import ValidationFailed
        from autodp.dbt_runner import DbtError
        from autodp.ingest import IngestError
        from autodp.llm.endpoints import UntrustedEndpoint
        from autodp.resources import MissingResource
        from autodp.store import ArtifactNotFound, StoreError

        if isinstance(error, (IngestError, ArtifactNotFound, DbtError, ValueError, FileNotFoundError, LookupError,
                              MissingResource, UntrustedEndpoint, TimeoutError, ValidationFailed, StoreError)):
            print(f"autodp: error: {one_line(str(error))}", file=sys.stderr)
            return 2
        raise


def one_line(message: str) -> str:
    """An error for a terminal: its lines joined, control characters (a source's bytes may
    carry them) shown escaped, API keys redacted."""
    from autodp.llm.endpoints import redact

    joined = "; ".join(line.strip() for line in redact(message).split("\n") if line.strip())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in joined)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autodp", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    ingest = commands.add_parser("ingest", help="read a dataset into the canonical table")
    _ingest_arguments(ingest)
    _json_option(ingest)
    ingest.set_defaults(run=_ingest)

    profile = commands.add_parser("profile", help="aggregate statistics of an ingested dataset")
    profile.add_argument("dataset_key")
    _store_option(profile)
    _json_option(profile)
    profile.set_defaults(run=_profile)

    listing = commands.add_parser("operators", help="the operator catalogue and the strategy schema")
    _json_option(listing)
    listing.set_defaults(run=_operators)

    apply = commands.add_parser("apply", help="apply a strategy to a dataset, reusing cached prefixes")
    apply.add_argument("dataset_key")
    apply.add_argument("--strategy", required=True, type=Path, help="strategy file, JSON or YAML")
    apply.add_argument("--start-llm", action="store_true",
                       help="start the local LLM server for this run if the strategy needs it and none answers")
    _store_option(apply)
    _json_option(apply)
    apply.set_defaults(run=_apply)

    sampler = commands.add_parser("sample", help="a distribution-preserving search sample of a dataset")
    sampler.add_argument("dataset_key")
    amount = sampler.add_mutually_exclusive_group(required=True)
    amount.add_argument("--size", type=int)
    amount.add_argument("--fraction", type=float)
    sampler.add_argument("--clusters", type=int, default=8)
    sampler.add_argument("--length-buckets", type=int, default=4)
    sampler.add_argument("--label-column", default=None)
    sampler.add_argument("--frame-rows", type=int, default=10_000,
                         help="embed at most this many rows (a seeded uniform frame) to build the strata "
                              "of a larger input; 0 embeds every row")
    sampler.add_argument("--seed", type=int, default=0)
    _store_option(sampler)
    _json_option(sampler)
    sampler.set_defaults(run=_sample)

    from autodp.search.config import Labeler

    targeter = commands.add_parser("target", help="flag low-quality rows for the expensive operators")
    targeter.add_argument("dataset_key")
    targeter.add_argument("--labeler", choices=get_args(Labeler), default="scorer",
                          help="where the seed labels come from (default: the quality scorer)")
    targeter.add_argument("--label-column", default=None)
    targeter.add_argument("--seed-size", type=int, default=300)
    targeter.add_argument("--threshold", type=float, default=0.5)
    _store_option(targeter)
    _json_option(targeter)
    targeter.set_defaults(run=_target)

    from autodp.quality import DEFAULT_SIGNALS, SIGNALS

    scorer = commands.add_parser("score", help="a quality score in [0, 1] per record, with the signals behind it")
    _ingest_arguments(scorer)
    scorer.add_argument("--signals", default=",".join(DEFAULT_SIGNALS),
                        help=f"comma-separated, from {', '.join(SIGNALS)} (default %(default)s; llm asks the data "
                             "LLM to rate every record)")
    scorer.add_argument("--out", type=Path, default=None,
                        help="also write scores.parquet and summary.json into this folder")
    _json_option(scorer)
    scorer.set_defaults(run=_score)

    searcher = commands.add_parser("search", help="search for the strategy that fine-tunes the best model")
    searcher.add_argument("dataset_key", help="a stored dataset's key, or a file to ingest first (auto layout)")
    _search_arguments(searcher)
    searcher.add_argument("--epochs", type=float, default=None,
                          help="LoRA epochs per candidate, instead of --steps")
    for flag, what in (("sampling", "distribution-preserving sampling (search on every row)"),
                       ("target-selection", "processing target selection (LLM operators read every row)"),
                       ("reuse", "Cache-and-Reuse of stored prefixes and adapters")):
        searcher.add_argument(f"--no-{flag}", dest=flag.replace("-", "_"), action="store_false",
                              help=f"switch off {what}")
    _store_option(searcher)
    _json_option(searcher)
    searcher.set_defaults(run=_search)

    comparer = commands.add_parser("compare", help="which of two datasets trains the better model (gradient-alignment "
                                   "data value on clean references; no search, no fine-tuning)")
    comparer.add_argument("a", help="a file (ingested first, read as --format, --layout and --map say) or a stored "
                          "dataset's key")
    comparer.add_argument("b", help="a file or a stored dataset's key")
    comparer.add_argument("--eval", default=None, metavar="FILE_OR_KEY",
                          help="trusted references; default: a screened held-out split of A")
    comparer.add_argument("--model", default="smollm2", help="base model (default %(default)s)")
    comparer.add_argument("--max-rows", type=int, default=400,
                          help="records read from each dataset, by a seeded content hash (default %(default)s)")
    comparer.add_argument("--eval-size", type=int, default=200, help="held-out references (default %(default)s)")
    comparer.add_argument("--seed", type=int, default=0)
    _store_option(comparer)
    _ingest_options(comparer)
    _json_option(comparer)
    comparer.set_defaults(run=_compare)

    recipes = commands.add_parser("recipe", help="the governance log: approve, reject or retire published strategies",
                                  description="Decisions are recorded under your operating-system account "
                                  "(via cli); in the review app, under your Airflow login.")
    recipe_commands = recipes.add_subparsers(required=True, metavar="ACTION")
    approve = recipe_commands.add_parser("approve", help="approve a search's published strategy as a recipe")
    approve.add_argument("published_key")
    approve.add_argument("--name", required=True, help="the recipe's name, used by autodp_curate")
    approve.add_argument("--reason", required=True, help="why it is approved")
    approve.set_defaults(run=_recipe_approve)
    reject = recipe_commands.add_parser("reject", help="reject a search's published strategy: it never becomes a recipe")
    reject.add_argument("published_key")
    reject.add_argument("--reason", required=True, help="why it is rejected")
    reject.set_defaults(run=_recipe_reject)
    retire = recipe_commands.add_parser("retire", help="retire a recipe: autodp_curate refuses it from then on")
    retire.add_argument("name")
    retire.add_argument("--reason", required=True, help="why it is retired")
    retire.set_defaults(run=_recipe_retire)
    listing = recipe_commands.add_parser("list", help="every recipe, who approved it and whether it is retired")
    listing.set_defaults(run=_recipe_list)
    for action in (approve, reject, retire, listing):
        _store_option(action)
        _json_option(action)

    curator = commands.add_parser("curate", help="apply an approved recipe to new data, validate, publish")
    _ingest_arguments(curator)
    curator.add_argument("--recipe", required=True, help="name of an approved recipe")
    _json_option(curator)
    curator.set_defaults(run=_curate)

    exporter = commands.add_parser("export", help="a published, curated or stored dataset as JSONL (Alpaca or "
                                   "ShareGPT layout) or as a Hugging Face dataset folder")
    exporter.add_argument("key", help="a published key, a curated key or a dataset key")
    exporter.add_argument("--layout", choices=("alpaca", "sharegpt", "hf"), default="alpaca")
    exporter.add_argument("--out", type=Path, required=True, help="the JSONL file, or the folder for hf")
    _store_option(exporter)
    _json_option(exporter)
    exporter.set_defaults(run=_export)

    distiller = commands.add_parser("distill", help="distil the augmentation model family from a teacher: balanced "
                                    "seeds, teacher data, the pool's filter, a LoRA per task, evaluation, registry")
    _ingest_arguments(distiller)
    _distill_arguments(distiller)
    _json_option(distiller)
    distiller.set_defaults(run=_distill)

    augmenters = commands.add_parser("augmentation-models", help="the registered augmentation models, newest first")
    _store_option(augmenters)
    _json_option(augmenters)
    augmenters.set_defaults(run=_augmentation_models)

    llm = commands.add_parser("llm", help="the local LLM server")
    llm_commands = llm.add_subparsers(required=True, metavar="ACTION")
    serve = llm_commands.add_parser("serve", help="serve SmolLM2-135M-Instruct on loopback (OpenAI-compatible)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(run=_llm_serve)

    run = commands.add_parser("run", help="the main job: autodp_search through Airflow on the embedded defaults")
    _ingest_arguments(run)
    _search_arguments(run)
    run.add_argument("--dags-folder", type=Path, default=Path(__file__).resolve().parents[2] / "dags",
                     help="where the autodp DAGs are (default: the checkout's dags/)")
    run.set_defaults(run=_run, json=False)

    ui = commands.add_parser("ui", help="Airflow's api-server, scheduler and dag-processor on the main job's Airflow "
                             "home, with the review app: prints the URL and the login")
    ui.add_argument("--port", type=int, default=8080)
    ui.set_defaults(run=_ui)

    demo = commands.add_parser("demo-data", help="write the built-in synthetic demo dataset")
    demo.add_argument("path", type=Path)
    demo.add_argument("--rows", type=int, default=600)
    demo.set_defaults(run=_demo_data)
    return parser


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    """The search's settings, named as the autodp_search DAG's Params, defaults from SearchConfig."""
    from autodp.search.config import DEFAULTS, Method

    parser.add_argument("--method", choices=get_args(Method), default=DEFAULTS.method,
                        help="agent: refined from scores; random and one_shot: baselines (default %(default)s)")
    parser.add_argument("--iterations", type=int, default=DEFAULTS.iterations)
    parser.add_argument("--candidates", type=int, default=DEFAULTS.candidates, help="strategies per iteration")
    parser.add_argument("--patience", type=int, default=DEFAULTS.patience,
                        help="converged after this many iterations without a better strategy")
    parser.add_argument("--model", default=DEFAULTS.base,
                        help="base model: smollm2, tiny, or a Hugging Face directory (default %(default)s)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.lora.steps,
                        help="LoRA steps per candidate (default %(default)s)")
    parser.add_argument("--sample-size", type=int, default=DEFAULTS.sample_size)
    parser.add_argument("--eval-size", type=int, default=DEFAULTS.eval_size)
    parser.add_argument("--eval", default=None, metavar="FILE_OR_KEY",
                        help="a trusted evaluation set to judge models on, instead of a screened held-out split: "
                             "a file (ingested with the same --map), or a stored dataset's key")
    parser.add_argument("--confirm-top", type=int, default=DEFAULTS.confirm_top,
                        help="top candidates fine-tuned again against raw before publishing; 0: none (default "
                             "%(default)s)")
    parser.add_argument("--confirm-seeds", type=int, default=DEFAULTS.confirm_seeds,
                        help="seeds per confirmation arm (default %(default)s)")
    parser.add_argument("--confirm-steps", type=int, default=DEFAULTS.confirm_lora.steps,
                        help=f"LoRA steps per confirmation adapter, batch {DEFAULTS.confirm_lora.batch_size} "
                             f"(default %(default)s)")
    parser.add_argument("--confirm-size", type=int, default=DEFAULTS.confirm_size,
                        help="held-out examples only the confirmation scores (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--llm-judge", action="store_true", help="also judge with the judge endpoint")
    parser.add_argument("--augmentation-model", default=None, metavar="NAME",
                        help="a registered augmentation family (autodp distill): its tasks' operators join the pool "
                             "and run its models")


def _search_params(args: argparse.Namespace) -> dict[str, Any]:
    """The search's settings under the DAG's Param names (``SearchConfig.from_params``)."""
    params = {"method": args.method, "iterations": args.iterations, "candidates": args.candidates,
              "patience": args.patience, "model": args.model, "lora_steps": args.steps,
              "sample_size": args.sample_size, "eval_size": args.eval_size, "seed": args.seed,
              "llm_judge": args.llm_judge, "eval": args.eval, "augmentation_model": args.augmentation_model,
              "confirm_top": args.confirm_top, "confirm_seeds": args.confirm_seeds,
              "confirm_steps": args.confirm_steps, "confirm_size": args.confirm_size}
    for name in ("epochs", "sampling", "target_selection", "reuse"):
        if hasattr(args, name):
            params["lora_epochs" if name == "epochs" else name] = getattr(args, name)
    return params


def _distill_arguments(parser: argparse.ArgumentParser) -> None:
    """Distillation's settings, named as the autodp_distill DAG's Params, defaults from DistillConfig."""
    from autodp.augmentation.distill import DistillConfig

    defaults = DistillConfig()
    parser.add_argument("--name", default=defaults.name, help="the family's name, which operators give as `model` "
                        "(default %(default)s)")
    parser.add_argument("--tasks", default=",".join(defaults.tasks), help="comma-separated (default: all three)")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="training seeds (default %(default)s)")
    parser.add_argument("--held-out", type=int, default=defaults.held_out,
                        help="held-out seeds to evaluate on (default %(default)s)")
    parser.add_argument("--clusters", type=int, default=defaults.clusters,
                        help="task types to balance the seeds over (default %(default)s)")
    parser.add_argument("--per-seed", type=int, default=defaults.per_seed,
                        help="teacher outputs per seed for the expansion tasks (default %(default)s)")
    parser.add_argument("--model", default=defaults.base,
                        help="student base model: smollm2, tiny, or a Hugging Face directory (default %(default)s)")
    parser.add_argument("--steps", type=int, default=defaults.lora.steps, help="LoRA steps per task (default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed)


def _distill_params(args: argparse.Namespace) -> dict[str, Any]:
    return {"name": args.name, "tasks": [t.strip() for t in args.tasks.split(",") if t.strip()], "seeds": args.seeds,
            "held_out": args.held_out, "clusters": args.clusters, "per_seed": args.per_seed, "model": args.model,
            "lora_steps": args.steps, "seed": args.seed}


def _ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="JSONL, JSON array, Parquet or CSV file (gzip ok), local or s3://")
    _store_option(parser)
    _ingest_options(parser)


def _ingest_options(parser: argparse.ArgumentParser) -> None:
    """How a source file is read: the options every command that ingests shares."""
    from autodp.ingest.layouts import LAYOUTS
    from autodp.ingest.readers import FORMATS
    from autodp.ingest.rows import DEFAULT_MAX_RECORD_BYTES

    parser.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                        help="file format (default: from the name and first bytes)")
    parser.add_argument("--layout", default="auto", choices=["auto", *LAYOUTS],
                        help="record layout (default: from the first record, or 'mapped' with --map)")
    parser.add_argument("--map", action="append", default=[], metavar="FIELD=COLUMN",
                        help="take instruction/input/output from COLUMN, e.g. --map output=answer")
    parser.add_argument("--max-record-bytes", type=int, default=DEFAULT_MAX_RECORD_BYTES,
                        help="quarantine records larger than this (default 1 MiB)")


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None,
                        help="artifact store: a directory or s3://bucket/prefix "
                             "(default: $AUTODP_STORE, else $AUTODP_HOME/store, else ./.autodp/store)")


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _open(args: argparse.Namespace):
    from autodp.store import open_store

    return open_store(args.store or Settings.from_env().store_uri)


def _ingest(args: argparse.Namespace) -> int:
    summary = _ingest_step(args, _open(args), args.source)
    if args.json:
        _print_json(summary)
        return 0
    _show_ingest(summary)
    return 0


def _profile(args: argparse.Namespace) -> int:
    from autodp.profile import profile

    report = profile(args.dataset_key, _open(args))
    if args.json:
        _print_json(report)
        return 0
    _show_profile(report)
    return 0


def _operators(args: argparse.Namespace) -> int:
    from autodp.operators import catalogue
    from autodp.strategy import strategy_schema

    entries = catalogue()
    if args.json:
        _print_json({"operators": entries, "strategy_schema": strategy_schema()})
        return 0
    for entry in entries:
        flags = "".join([" [llm]" if entry["needs_llm"] else "", " [embeddings]" if entry["needs_embeddings"] else ""])
        print(f"{entry['name']:<28}{entry['stage']:<12}{entry['role']:<14}{entry['description']}{flags}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.executor import apply_strategy
    from autodp.strategy import Strategy

    strategy = Strategy.from_file(args.strategy)
    with _local_llm() if args.start_llm and strategy.needs_llm() else nullcontext():
        result = apply_strategy(args.dataset_key, strategy, _open(args))
    if args.json:
        _print_json(result)
        return 0
    print(f"output dataset {result['output_key']}: {result['rows_in']} -> {result['rows_out']} rows, "
          f"{result['cache_hits']} cache hits, {result['cache_misses']} computed, {result['seconds']} s")
    for step in result["steps"]:
        reasons = ", ".join(f"{k} {v}" for k, v in {**step["dropped"], **step["changed"]}.items())
        print(f"  {step['step']:>2}. {step['operator']:<24}{step['rows_in']:>8} -> {step['rows_out']:<8}"
              f"{step['cache']:<5} {step['seconds']:>7.3f} s  {reasons}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from autodp.search.sampling import sample

    result = sample(args.dataset_key, _open(args), size=args.size, fraction=args.fraction, seed=args.seed,
                    clusters=args.clusters, length_buckets=args.length_buckets, label_column=args.label_column,
                    frame_rows=args.frame_rows or None)
    if args.json:
        _print_json(result)
        return 0
    f = result["fidelity"]
    frame = f" (strata from a uniform frame of {f['frame_rows']})" if f["frame_rows"] < result["rows_full"] else ""
    print(f"sample {result['dataset_key']}: {result['rows']} of {result['rows_full']} rows over {f['strata']} strata"
          f"{frame}; "
          f"JS divergence {f['js_divergence']}, largest share gap {f['max_share_gap']}, "
          f"output-length KS {f['output_length_ks']}")
    return 0


def _target(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.search.targeting import select_targets

    with _local_llm() if args.labeler == "llm" else nullcontext():
        result = select_targets(args.dataset_key, _open(args), labeler=args.labeler, label_column=args.label_column,
                                seed_size=args.seed_size, threshold=args.threshold)
    if args.json:
        _print_json(result)
        return 0
    c = result["classifier"]
    quality = (f"cv ROC-AUC {c.get('cv_roc_auc')}, F1 {c.get('cv_f1')}" if c["trained"] else c["reason"])
    print(f"targets {result['targets_key']}: {result['flagged']} of {result['rows']} rows flagged "
          f"({result['seed_low']} of {result['seed_labelled']} seed rows labelled low; {quality})")
    return 0


def _score(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.artifacts import SCORES, SCORES_FILE
    from autodp.quality import check_signals, score_dataset

    signals = check_signals([s.strip() for s in args.signals.split(",") if s.strip()])
    store = _open(args)
    dataset_key = _dataset_key(args, store, args.source)
    with _local_llm() if "llm" in signals else nullcontext():
        summary = score_dataset(dataset_key, store, signals=signals)
    location = store.file_location(SCORES, summary["scores_key"], SCORES_FILE)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        store.download(store.artifact_path(SCORES, summary["scores_key"], SCORES_FILE), args.out / SCORES_FILE)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        location = str(args.out / SCORES_FILE)
    if args.json:
        _print_json({**summary, "scores": location})
        return 0
    quantiles = ", ".join(f"p{float(q) * 100:g} {v:.3f}" for q, v in summary["score_quantiles"].items())
    print(f"scored {summary['scored']} of {summary['rows']} rows of dataset {dataset_key} "
          f"({', '.join(summary['signals'])}): mean {summary['score_mean']}, {quantiles}")
    print(f"  {summary['low_quality']} rows below {summary['low_quality_threshold']}")
    for verdict, count in summary["rules_fired"].items():
        print(f"  rule {verdict:<48}{count:>7}")
    print(f"scores: {location}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.ingest import ingest
    from autodp.search.config import SearchConfig
    from autodp.search.loop import search

    progress = None if args.json else (lambda message: print(f"  {message}", flush=True))
    store = _open(args)
    dataset_key, trusted = args.dataset_key, args.eval
    if Path(dataset_key).is_file():
        ingested = ingest(dataset_key, store)
        dataset_key = ingested["dataset_key"]
        if progress:
            progress(f"ingested {args.dataset_key}: {ingested['rows_kept']} rows kept, "
                     f"{ingested['rows_quarantined']} quarantined; dataset {dataset_key}")
    if trusted and Path(trusted).is_file():
        trusted = ingest(trusted, store)["dataset_key"]
    config = SearchConfig.from_params({**_search_params(args), "eval": trusted})
    with _local_llm() if args.method != "random" or args.llm_judge else nullcontext():
        result = search(dataset_key, store, config, progress=progress)
    if args.json:
        _print_json({k: result[k] for k in ("run_key", "published_key", "published_dataset_key", "leaderboard",
                                            "data_card")})
        return 0
    _show_leaderboard(result)
    print(f"published dataset {result['published_dataset_key']}; data card: published/{result['published_key']}/")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from autodp.search.compare import compare

    store = _open(args)
    trusted = _dataset_key(args, store, args.eval) if args.eval else None
    result = compare(store, _dataset_key(args, store, args.a), _dataset_key(args, store, args.b), trusted,
                     base=args.model, max_rows=args.max_rows, eval_size=args.eval_size, seed=args.seed)
    if args.json:
        _print_json(result)
        return 0
    low, high = result["ci95"]
    rows = result["rows"]
    print(f"A {result['a']} ({rows['a']['compared']} of {rows['a']['total']} rows) against B {result['b']} "
          f"({rows['b']['compared']} of {rows['b']['total']} rows)")
    print(f"  {result['signal']} on {result['references']['examples']} "
          f"{result['references']['source'].replace('_', ' ')} references: A - B {result['difference']:+.5f} "
          f"[{low:+.5f}, {high:+.5f}]")
    verdict = {"a": "A trains the better model", "b": "B trains the better model",
               "neither": "neither is shown better (the interval includes no difference)"}[result["preferred"]]
    print(f"  preferred: {result['preferred']}: {verdict}; {result['features_computed']} records' gradients "
          f"computed, {result['seconds']} s")
    if result["size_warning"]:
        print(f"  warning: {result['size_warning']}")
    return 0


def _show_leaderboard(result: dict[str, Any]) -> None:
    from autodp.search.confirmation import budget_text

    card = result["data_card"]["score"]
    noise = card.get("noise_floor")
    if noise:
        print(f"noise floor (baseline reseeded): win rate {noise['win_rate']:.3f} "
              f"[{noise['ci95'][0]:.2f}, {noise['ci95'][1]:.2f}], dNLL {noise['delta_nll']['mean']:+.4f}; "
              f"tie margin {card['tie_margin']}; {card['evaluation_examples']} {card['evaluation'].replace('_', ' ')} "
              "examples")
    print(f"{'score':>7} {'win rate':>9} {'95% CI':>12} {'dNLL':>8} {'95% CI':>17} {'LLM judge':>10} {'rows':>6} "
          f"{'confirmed dNLL':>15} {'95% CI':>17}  strategy")
    for entry in result["leaderboard"]:
        low, high = entry["ci95"]
        delta = entry.get("delta_nll") or {"mean": None, "ci95": [None, None]}
        delta_text = f"{delta['mean']:+.4f}" if delta["mean"] is not None else "-"
        delta_ci = f"{delta['ci95'][0]:+.3f},{delta['ci95'][1]:+.3f}" if delta["mean"] is not None else "-"
        judged = entry.get("llm_judge")
        llm = "-" if not judged else "unusable" if judged.get("usable") is False else f"{judged['win_rate']:.3f}"
        confirmed = (entry.get("confirmed") or {}).get("delta_nll")
        confirmed_text = f"{confirmed['mean']:+.4f}" if confirmed else "-"
        confirmed_ci = f"{confirmed['ci95'][0]:+.3f},{confirmed['ci95'][1]:+.3f}" if confirmed else "-"
        print(f"{entry['score']:>+7.3f} {entry['win_rate']:>9.3f} {f'{low:.2f}-{high:.2f}':>12} {delta_text:>8} "
              f"{delta_ci:>17} {llm:>10} {entry['rows_out']:>6} {confirmed_text:>15} {confirmed_ci:>17}  "
              f"{' > '.join(s['operator'] for s in entry['steps'])} ({entry['origin']})")
    confirmation = result["data_card"].get("confirmation")
    if confirmation:
        how = (f"{confirmation['seeds']} seeds per arm at {budget_text(confirmation['budget'])}, "
               f"{confirmation['examples']} examples the selection never used" if "budget" in confirmation
               else confirmation["reason"])
        print(f"published strategy: {confirmation['verdict']} (confirmation: {how})")


def _distill(args: argparse.Namespace) -> int:
    from autodp.augmentation.distill import DistillConfig, distill

    config = DistillConfig.from_params(_distill_params(args))
    store = _open(args)
    dataset_key = _dataset_key(args, store, args.source)
    progress = None if args.json else (lambda message: print(f"  {message}", flush=True))
    with _local_llm():
        result = distill(dataset_key, store, config, progress=progress)
    if args.json:
        _print_json(result)
        return 0
    _show_distilled(result)
    return 0


def _show_distilled(result: dict[str, Any]) -> None:
    print(f"{'task':<24} {'valid':>6} {'teacher':>8} {'div.seed':>9} {'div.out':>8} {'win vs teacher':>22} "
          f"{'imitation dNLL':>24} {'time ratio':>10}")
    for task, done in result["tasks"].items():
        scores = done["evaluation"]
        judge, imitated = scores["judge"], scores["imitation"]["delta_nll"]
        win = (f"{judge['win_rate']:.3f} [{judge['ci95'][0]:.2f},{judge['ci95'][1]:.2f}]"
               + ("" if judge["usable"] else " unusable"))
        dnll = f"{imitated['mean']:+.3f} [{imitated['ci95'][0]:+.2f},{imitated['ci95'][1]:+.2f}]" if imitated else "-"
        diversity = scores["diversity"]["student"]
        print(f"{task:<24} {scores['validity']['student']['share']:>6.2f} {scores['validity']['teacher']['share']:>8.2f} "
              f"{_figure(diversity['from_seed']):>9} {_figure(diversity['between_outputs']):>8} {win:>22} {dnll:>24} "
              f"{_figure(scores['cost']['student_to_teacher_time']):>10}")
    for task, done in result["tasks"].items():
        entry = done["entry"]
        print(f"registered {entry['name']!r} for {task}: {entry['key']} (use {{\"{task}\": {{\"model\": "
              f"\"{entry['name']}\"}}}})")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _augmentation_models(args: argparse.Namespace) -> int:
    from autodp.augmentation.registry import entries

    found = entries(_open(args))
    if args.json:
        _print_json(found)
        return 0
    if not found:
        print("no augmentation models registered (autodp distill registers them)")
    for entry in found:
        scores = entry["scores"]
        print(f"{entry['name']:<20} {entry['task']:<24} {entry['key']}  base {entry['base']}, validity "
              f"{scores['validity']}, win rate vs teacher {scores['win_rate_vs_teacher']}"
              f"{'' if scores['judge_usable'] else ' (judge unusable)'}, {entry['created_at']}")
    return 0


def _recipe_approve(args: argparse.Namespace) -> int:
    from autodp.curate import Reviewer, approve

    approved = approve(_open(args), args.published_key, args.name, Reviewer.from_cli(), args.reason)
    return _report(args, approved, f"recipe {approved['name']!r} approved by {approved['approved_by']} (cli) at "
                   f"{approved['approved_at']}: {' > '.join(s['operator'] for s in approved['strategy'])} "
                   f"({approved['recipe_key']})")


def _recipe_reject(args: argparse.Namespace) -> int:
    from autodp.curate import Reviewer, reject

    decision = reject(_open(args), args.published_key, Reviewer.from_cli(), args.reason)
    return _report(args, decision, f"published search {args.published_key} rejected by {decision['by']} (cli) at "
                   f"{decision['at']}")


def _recipe_retire(args: argparse.Namespace) -> int:
    from autodp.curate import Reviewer, retire

    decision = retire(_open(args), args.name, Reviewer.from_cli(), args.reason)
    return _report(args, decision, f"recipe {args.name!r} retired by {decision['by']} (cli) at {decision['at']}; "
                   "autodp_curate refuses it")


def _report(args: argparse.Namespace, result: Any, line: str) -> int:
    """A command's result as JSON with --json, else its one-line summary."""
    if args.json:
        _print_json(result)
    else:
        print(line)
    return 0


def _recipe_list(args: argparse.Namespace) -> int:
    from autodp.curate import recipes

    found = recipes(_open(args))
    if args.json:
        _print_json(found)
        return 0
    for entry in found:
        state = f"retired by {entry['retired']['by']}" if entry["retired"] else "active"
        print(f"{entry['name']:<20} {state:<24} approved by {entry['approved_by']} "
              f"({entry.get('approved_via', 'cli')}) at {entry['approved_at']}: {entry['reason']}")
    return 0


def _curate(args: argparse.Namespace) -> int:
    from autodp.curate import curate

    curated = curate(_open(args), args.source, args.recipe, file_format=args.format, layout=args.layout,
                     mapping=args.map, max_record_bytes=args.max_record_bytes)
    if args.json:
        _print_json(curated)
    else:
        rows = curated["rows"]
        print(f"curated {rows['in']} -> {rows['out']} rows with recipe {args.recipe!r}; "
              f"published curated/{curated['curated_key']}/")
    return 0


def _export(args: argparse.Namespace) -> int:
    from autodp.exports import export

    result = export(_open(args), args.key, args.out, args.layout)
    return _report(args, result, f"exported {result['rows']} rows of dataset {result['dataset_key']} "
                                 f"({result['layout']}) to {result['path']}")


def _llm_serve(args: argparse.Namespace) -> int:
    import os
    from urllib.parse import urlparse

    from autodp.llm.endpoints import Endpoint
    from autodp.llm.server import server_command

    configured = urlparse(Endpoint.from_env("data").base_url)
    command = server_command(args.host or configured.hostname, args.port or configured.port)
    print(f"serving on http://{args.host or configured.hostname}:{args.port or configured.port}/v1", flush=True)
    os.execv(command[0], command)


def _local_llm():
    """The local server for the duration of a command, unless one already answers."""
    from contextlib import nullcontext
    from urllib.parse import urlparse

    from autodp.llm.endpoints import Endpoint
    from autodp.llm.server import LocalServer, is_serving

    endpoint = Endpoint.from_env("data")
    if is_serving(endpoint.base_url):
        return nullcontext()
    where = urlparse(endpoint.base_url)
    if where.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"--start-llm starts a local server, but the data LLM is {endpoint.base_url}")
    home = Settings.from_env().home
    home.mkdir(parents=True, exist_ok=True)
    return LocalServer(host=where.hostname, port=where.port, log_path=home / "llm-server.log")


def _run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.artifacts import DATASETS, PUBLISHED, RECORDS_FILE
    from autodp.ingest.layouts import parse_mapping
    from autodp.main_job import run_search_dag

    store = _open(args)
    conf = {"source": str(Path(args.source).resolve()) if "://" not in args.source else args.source,
            "file_format": args.format, "layout": args.layout, "max_record_bytes": args.max_record_bytes,
            "mapping": parse_mapping(args.map), "store": store.uri, **_search_params(args),
            "eval": (str(Path(args.eval).resolve()) if "://" not in args.eval else args.eval) if args.eval else ""}
    with _local_llm() if args.method != "random" or args.llm_judge else nullcontext():
        result = run_search_dag(conf, store, args.dags_folder)
    _show_leaderboard(result)
    card = result["data_card"]
    where = store.artifact_path(PUBLISHED, result["published_key"])
    print(f"published dataset: {store.file_location(DATASETS, result['published_dataset_key'], RECORDS_FILE)}"
          f" ({card['rows']['in']} -> {card['rows']['out']} rows)")
    print(f"data card: {store.uri}/{where}/data_card.md; leaderboard: {store.uri}/{where}/result.json")
    print(f"review and approve it in the Airflow UI: run `make ui` (autodp ui), sign in with the login it prints, "
          f"and open http://127.0.0.1:8080/autodp/searches/{result['published_key']}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    import signal

    from autodp.airflow_services import AirflowServices, passwords, services_environment
    from autodp.review.pages import searches
    from autodp.store import open_store

    settings = Settings.from_env()
    users = {"admin": "admin"}
    services = AirflowServices(services_environment(settings, args.port, users), args.port)
    login = passwords(services.home, users)["admin"]
    print(f"starting Airflow on {services.url} (logs in {services.home}) ...", flush=True)
    services.start()
    published = searches(open_store(settings.store_uri))
    print(f"\nAirflow UI:   {services.url}\nlogin:        admin / {login}\n"
          f"review app:   {services.url}/plugin/autodp (Data review in the navigation)")
    if published:
        print(f"last search:  {services.url}/autodp/searches/{published[0]['key']}")
    print("Ctrl-C stops the three services.", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the services as Ctrl-C does
    try:
        while all(process.poll() is None for process in services.processes):
            time.sleep(2)
        print("an Airflow service stopped; see its log in " + str(services.home), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        services.stop()


def _ingest_step(args: argparse.Namespace, store, source: str) -> dict[str, Any]:
    from autodp.ingest import ingest

    return ingest(source, store, file_format=args.format, layout=args.layout,
                  mapping=args.map, max_record_bytes=args.max_record_bytes)


def _dataset_key(args: argparse.Namespace, store, source: str) -> str:
    """The source's dataset: a file or URL is ingested; anything else is a stored dataset's key."""
    if "://" in source or Path(source).exists():
        return _ingest_step(args, store, source)["dataset_key"]
    return source


def _show_ingest(summary: dict[str, Any]) -> None:
    print(f"dataset {summary['dataset_key']}{' (already stored)' if summary['cached'] else ''}")
    print(f"  {summary['rows_in']} rows in = {summary['rows_kept']} kept + "
          f"{summary['rows_quarantined']} quarantined ({summary['format']}, {summary['layout']})")
    for reason, count in summary["quarantine_reasons"].items():
        print(f"  quarantined {count:>6} {reason}")


def _show_profile(report: dict[str, Any]) -> None:
    print(f"profile of dataset {report['dataset_key']}: {report['rows']} rows")
    for name, field in sorted(report["fields"].items()):
        print(f"  {name:<12} empty {field['empty_rate']:7.2%}  placeholder {field['placeholder_rate']:7.2%}"
              f"  chars p50 {field['chars_p50']:>6}  p95 {field['chars_p95']:>6}  tokens p50 {field['tokens_p50']:>5}")
    dup = report["duplicates"]
    print(f"  duplicates: records {dup['duplicate_rate_records']:.2%}, "
          f"instructions {dup['duplicate_rate_instructions']:.2%}")
    langs = ", ".join(f"{k} {v:.1%}" for k, v in report["languages"]["shares"].items())
    print(f"  languages ({report['languages']['sample_rows']} sampled): {langs}")


def _demo_data(args: argparse.Namespace) -> int:
    from autodp.demo import write_demo_dataset

    print(write_demo_dataset(args.path, rows=args.rows))
    return 0


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.exit(main())
