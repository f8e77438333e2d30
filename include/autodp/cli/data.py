"""Commands on datasets: ingest, profile, the operator catalogue, apply, sample, target,
and score, and the demo data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, get_args

from autodp.cli.common import (
    dataset_key_of,
    ingest_arguments,
    ingest_step,
    json_option,
    local_llm,
    print_json,
    store_of,
    store_option,
)


def register(commands) -> None:
    """Add this module's commands to ``autodp``'s subcommands."""
    ingest = commands.add_parser("ingest", help="read a dataset into the canonical table")
    ingest_arguments(ingest)
    json_option(ingest)
    ingest.set_defaults(run=_ingest)

    profile = commands.add_parser("profile", help="aggregate statistics of an ingested dataset")
    profile.add_argument("dataset_key")
    store_option(profile)
    json_option(profile)
    profile.set_defaults(run=_profile)

    listing = commands.add_parser("operators", help="the operator catalogue and the strategy schema")
    json_option(listing)
    listing.set_defaults(run=_operators)

    apply = commands.add_parser("apply", help="apply a strategy to a dataset, reusing cached prefixes")
    apply.add_argument("dataset_key")
    apply.add_argument("--strategy", required=True, type=Path, help="strategy file, JSON or YAML")
    apply.add_argument("--start-llm", action="store_true",
                       help="start the local LLM server for this run if the strategy needs it and none answers")
    store_option(apply)
    json_option(apply)
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
    store_option(sampler)
    json_option(sampler)
    sampler.set_defaults(run=_sample)

    from autodp.search.config import Labeler

    targeter = commands.add_parser("target", help="flag low-quality rows for the expensive operators")
    targeter.add_argument("dataset_key")
    targeter.add_argument("--labeler", choices=get_args(Labeler), default="scorer",
                          help="where the seed labels come from (default: the quality scorer)")
    targeter.add_argument("--label-column", default=None)
    targeter.add_argument("--seed-size", type=int, default=300)
    targeter.add_argument("--threshold", type=float, default=0.5)
    store_option(targeter)
    json_option(targeter)
    targeter.set_defaults(run=_target)

    from autodp.operators.quality import DEFAULT_SIGNALS, SIGNALS

    scorer = commands.add_parser("score", help="a quality score in [0, 1] per record, with the signals behind it")
    ingest_arguments(scorer)
    scorer.add_argument("--signals", default=",".join(DEFAULT_SIGNALS),
                        help=f"comma-separated, from {', '.join(SIGNALS)} (default %(default)s; llm asks the data "
                             "LLM to rate every record)")
    scorer.add_argument("--out", type=Path, default=None,
                        help="also write scores.parquet and summary.json into this folder")
    json_option(scorer)
    scorer.set_defaults(run=_score)

    demo = commands.add_parser("demo-data", help="write the built-in synthetic demo dataset")
    demo.add_argument("path", type=Path)
    demo.add_argument("--rows", type=int, default=600)
    demo.set_defaults(run=_demo_data)


def _ingest(args: argparse.Namespace) -> int:
    summary = ingest_step(args, store_of(args), args.source)
    if args.json:
        print_json(summary)
        return 0
    _show_ingest(summary)
    return 0


def _profile(args: argparse.Namespace) -> int:
    from autodp.tables.profile import profile

    report = profile(args.dataset_key, store_of(args))
    if args.json:
        print_json(report)
        return 0
    _show_profile(report)
    return 0


def _operators(args: argparse.Namespace) -> int:
    from autodp.execution.strategy import strategy_schema
    from autodp.operators import catalogue

    entries = catalogue()
    if args.json:
        print_json({"operators": entries, "strategy_schema": strategy_schema()})
        return 0
    for entry in entries:
        flags = "".join([" [llm]" if entry["needs_llm"] else "", " [embeddings]" if entry["needs_embeddings"] else ""])
        print(f"{entry['name']:<28}{entry['stage']:<12}{entry['role']:<14}{entry['description']}{flags}")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.execution.executor import apply_strategy
    from autodp.execution.strategy import Strategy

    strategy = Strategy.from_file(args.strategy)
    with local_llm() if args.start_llm and strategy.needs_llm() else nullcontext():
        result = apply_strategy(args.dataset_key, strategy, store_of(args))
    if args.json:
        print_json(result)
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

    result = sample(args.dataset_key, store_of(args), size=args.size, fraction=args.fraction, seed=args.seed,
                    clusters=args.clusters, length_buckets=args.length_buckets, label_column=args.label_column,
                    frame_rows=args.frame_rows or None)
    if args.json:
        print_json(result)
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

    with local_llm() if args.labeler == "llm" else nullcontext():
        result = select_targets(args.dataset_key, store_of(args), labeler=args.labeler, label_column=args.label_column,
                                seed_size=args.seed_size, threshold=args.threshold)
    if args.json:
        print_json(result)
        return 0
    c = result["classifier"]
    quality = (f"cv ROC-AUC {c.get('cv_roc_auc')}, F1 {c.get('cv_f1')}" if c["trained"] else c["reason"])
    print(f"targets {result['targets_key']}: {result['flagged']} of {result['rows']} rows flagged "
          f"({result['seed_low']} of {result['seed_labelled']} seed rows labelled low; {quality})")
    return 0


def _score(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.artifacts import SCORES, SCORES_FILE
    from autodp.operators.quality import check_signals
    from autodp.search.evidence import score_dataset

    signals = check_signals([s.strip() for s in args.signals.split(",") if s.strip()])
    store = store_of(args)
    dataset_key = dataset_key_of(args, store, args.source)
    with local_llm() if "llm" in signals else nullcontext():
        summary = score_dataset(dataset_key, store, signals=signals)
    location = store.file_location(SCORES, summary["scores_key"], SCORES_FILE)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        store.download(store.artifact_path(SCORES, summary["scores_key"], SCORES_FILE), args.out / SCORES_FILE)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        location = str(args.out / SCORES_FILE)
    if args.json:
        print_json({**summary, "scores": location})
        return 0
    quantiles = ", ".join(f"p{float(q) * 100:g} {v:.3f}" for q, v in summary["score_quantiles"].items())
    print(f"scored {summary['scored']} of {summary['rows']} rows of dataset {dataset_key} "
          f"({', '.join(summary['signals'])}): mean {summary['score_mean']}, {quantiles}")
    print(f"  {summary['low_quality']} rows below {summary['low_quality_threshold']}")
    for verdict, count in summary["rules_fired"].items():
        print(f"  rule {verdict:<48}{count:>7}")
    print(f"scores: {location}")
    return 0


def _demo_data(args: argparse.Namespace) -> int:
    from autodp.ingest.demo import write_demo_dataset

    print(write_demo_dataset(args.path, rows=args.rows))
    return 0


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
