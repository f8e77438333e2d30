"""The search: ``autodp search`` in one process, ``autodp run`` (the main job) through
Airflow, and ``autodp compare``; their settings are named as the autodp_search DAG's Params."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from autodp.cli.common import (
    dataset_key_of,
    ingest_arguments,
    ingest_options,
    json_option,
    local_llm,
    print_json,
    store_of,
    store_option,
)


def register(commands) -> None:
    """Add this module's commands to ``autodp``'s subcommands."""
    searcher = commands.add_parser("search", help="search for the strategy that fine-tunes the best model")
    searcher.add_argument("dataset_key", help="a stored dataset's key, or a file to ingest first (auto layout)")
    search_arguments(searcher)
    searcher.add_argument("--epochs", type=float, default=None,
                          help="LoRA epochs per candidate, instead of --steps")
    for flag, what in (("sampling", "distribution-preserving sampling (search on every row)"),
                       ("target-selection", "processing target selection (LLM operators read every row)"),
                       ("reuse", "Cache-and-Reuse of stored prefixes and adapters")):
        searcher.add_argument(f"--no-{flag}", dest=flag.replace("-", "_"), action="store_false",
                              help=f"switch off {what}")
    store_option(searcher)
    json_option(searcher)
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
    store_option(comparer)
    ingest_options(comparer)
    json_option(comparer)
    comparer.set_defaults(run=_compare)

    run = commands.add_parser("run", help="the main job: autodp_search through Airflow on the embedded defaults")
    ingest_arguments(run)
    search_arguments(run)
    run.add_argument("--dags-folder", type=Path, default=Path(__file__).resolve().parents[3] / "dags",
                     help="where the autodp DAGs are (default: the checkout's dags/)")
    run.set_defaults(run=_run, json=False)


def search_arguments(parser: argparse.ArgumentParser) -> None:
    """The search's settings, named as the autodp_search DAG's Params, defaults from SearchConfig."""
    from autodp.models.lora import PRECISIONS
    from autodp.search.config import DEFAULTS, Method, Signal

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
    parser.add_argument("--signal", choices=get_args(Signal), default=DEFAULTS.signal,
                        help="what scores candidates: gradient_flow (no fine-tune per candidate; fails one check of make "
                             "bench-ladder) or reference (a fine-tune per candidate; fails many) (default %(default)s)")
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
    parser.add_argument("--confirm-precision", choices=PRECISIONS, default=DEFAULTS.confirm_lora.precision,
                        help="what confirmation adapters train and are scored in: bfloat16 autocast (fast where "
                             "the hardware multiplies it natively) or float32 (default %(default)s)")
    parser.add_argument("--confirm-size", type=int, default=DEFAULTS.confirm_size,
                        help="held-out examples only the confirmation scores (default %(default)s)")
    parser.add_argument("--confirm-rows", type=int, default=DEFAULTS.confirm_rows,
                        help="rows drawn outside the search sample that each confirmation arm trains on: raw, and "
                             "each candidate's strategy applied to them (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--llm-judge", action="store_true", help="also judge with the judge endpoint")
    parser.add_argument("--augmentation-model", default=None, metavar="NAME",
                        help="a registered augmentation family (autodp distill): its tasks' operators join the pool "
                             "and run its models")


def search_params(args: argparse.Namespace) -> dict[str, Any]:
    """The search's settings under the DAG's Param names (``SearchConfig.from_params``)."""
    params = {"method": args.method, "iterations": args.iterations, "candidates": args.candidates,
              "patience": args.patience, "model": args.model, "lora_steps": args.steps,
              "sample_size": args.sample_size, "eval_size": args.eval_size, "seed": args.seed, "signal": args.signal,
              "llm_judge": args.llm_judge, "eval": args.eval, "augmentation_model": args.augmentation_model,
              "confirm_top": args.confirm_top, "confirm_seeds": args.confirm_seeds,
              "confirm_steps": args.confirm_steps, "confirm_precision": args.confirm_precision,
              "confirm_size": args.confirm_size, "confirm_rows": args.confirm_rows}
    for name in ("epochs", "sampling", "target_selection", "reuse"):
        if hasattr(args, name):
            params["lora_epochs" if name == "epochs" else name] = getattr(args, name)
    return params


def _search(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.ingest import ingest
    from autodp.search.config import SearchConfig
    from autodp.search.loop import search

    progress = None if args.json else (lambda message: print(f"  {message}", flush=True))
    store = store_of(args)
    dataset_key, trusted = args.dataset_key, args.eval
    if Path(dataset_key).is_file():
        ingested = ingest(dataset_key, store)
        dataset_key = ingested["dataset_key"]
        if progress:
            progress(f"ingested {args.dataset_key}: {ingested['rows_kept']} rows kept, "
                     f"{ingested['rows_quarantined']} quarantined; dataset {dataset_key}")
    if trusted and Path(trusted).is_file():
        trusted = ingest(trusted, store)["dataset_key"]
    config = SearchConfig.from_params({**search_params(args), "eval": trusted})
    with local_llm() if args.method != "random" or args.llm_judge else nullcontext():
        result = search(dataset_key, store, config, progress=progress)
    if args.json:
        print_json({k: result[k] for k in ("run_key", "published_key", "published_dataset_key", "leaderboard",
                                            "data_card")})
        return 0
    _show_leaderboard(result)
    print(f"published dataset {result['published_dataset_key']}; data card: published/{result['published_key']}/")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from autodp.search.compare import compare

    store = store_of(args)
    trusted = dataset_key_of(args, store, args.eval) if args.eval else None
    result = compare(store, dataset_key_of(args, store, args.a), dataset_key_of(args, store, args.b), trusted,
                     base=args.model, max_rows=args.max_rows, eval_size=args.eval_size, seed=args.seed)
    if args.json:
        print_json(result)
        return 0
    low, high = result["ci95"]
    rows = result["rows"]
    print(f"A {result['a']} ({rows['a']['compared']} of {rows['a']['total']} rows) against B {result['b']} "
          f"({rows['b']['compared']} of {rows['b']['total']} rows)")
    print(f"  {result['signal']} on {result['references']['examples']} "
          f"{result['references']['source'].replace('_', ' ')} references: A - B {result['difference']:+.5f} "
          f"[{low:+.5f}, {high:+.5f}]")
    verdicts = {"a": "A trains the better model", "b": "B trains the better model",
                "neither": "neither is shown better (the interval includes no difference)"}
    print(f"  preferred: {result['preferred']}: {verdicts[result['preferred']]}; {result['features_computed']} "
          f"records' gradients computed, {result['seconds']} s")
    cosine = result["cosine"]
    print(f"  {cosine['signal']} (first order: what the records teach, blind to how many): A - B "
          f"{cosine['difference']:+.5f} [{cosine['ci95'][0]:+.5f}, {cosine['ci95'][1]:+.5f}]; preferred: "
          f"{cosine['preferred']}")
    if result["size_warning"]:
        print(f"  warning: {result['size_warning']}")
    return 0


def _show_leaderboard(result: dict[str, Any]) -> None:
    from autodp.search.confirmation import budget_text, draw_text

    card = result["data_card"]["score"]
    noise = card.get("noise_floor")
    if noise:
        print(f"noise floor (baseline reseeded): win rate {noise['win_rate']:.3f} "
              f"[{noise['ci95'][0]:.2f}, {noise['ci95'][1]:.2f}], dNLL {noise['delta_nll']['mean']:+.4f}; "
              f"tie margin {card['tie_margin']}; {card['evaluation_examples']} {card['evaluation'].replace('_', ' ')} "
              "examples")
    if card.get("value"):
        print(f"scored by {card['judge']} against the raw sample, on {card['evaluation_examples']} "
              f"{card['evaluation'].replace('_', ' ')} references (no fine-tune per candidate)")
        print(f"{'score':>9} {'95% CI':>19} {'rows':>6} {'computed':>9} {'confirmed dNLL':>15} {'95% CI':>17}  strategy")
    else:
        print(f"{'score':>7} {'win rate':>9} {'95% CI':>12} {'dNLL':>8} {'95% CI':>17} {'LLM judge':>10} {'rows':>6} "
              f"{'confirmed dNLL':>15} {'95% CI':>17}  strategy")
    for entry in result["leaderboard"]:
        low, high = entry["ci95"]
        confirmed = (entry.get("confirmed") or {}).get("delta_nll")
        confirmed_text = f"{confirmed['mean']:+.4f}" if confirmed else "-"
        confirmed_ci = f"{confirmed['ci95'][0]:+.3f},{confirmed['ci95'][1]:+.3f}" if confirmed else "-"
        steps = f"{' > '.join(s['operator'] for s in entry['steps'])} ({entry['origin']})"
        if entry.get("value"):
            print(f"{entry['score']:>+9.5f} {f'{low:+.5f},{high:+.5f}':>19} {entry['rows_out']:>6} "
                  f"{entry['value']['features_computed']:>9} {confirmed_text:>15} {confirmed_ci:>17}  {steps}")
            continue
        delta = entry.get("delta_nll") or {"mean": None, "ci95": [None, None]}
        delta_text = f"{delta['mean']:+.4f}" if delta["mean"] is not None else "-"
        delta_ci = f"{delta['ci95'][0]:+.3f},{delta['ci95'][1]:+.3f}" if delta["mean"] is not None else "-"
        judged = entry.get("llm_judge")
        llm = "-" if not judged else "unusable" if judged.get("usable") is False else f"{judged['win_rate']:.3f}"
        print(f"{entry['score']:>+7.3f} {entry['win_rate']:>9.3f} {f'{low:.2f}-{high:.2f}':>12} {delta_text:>8} "
              f"{delta_ci:>17} {llm:>10} {entry['rows_out']:>6} {confirmed_text:>15} {confirmed_ci:>17}  {steps}")
    confirmation = result["data_card"].get("confirmation")
    if confirmation:
        how = (f"{confirmation['seeds']} seeds per arm at {budget_text(confirmation['budget'])}, "
               f"{draw_text(confirmation.get('draw'))}, {confirmation['examples']} examples the selection never used"
               if "budget" in confirmation
               else confirmation["reason"])
        print(f"published strategy: {confirmation['verdict']} (confirmation: {how})")


def _run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from autodp.artifacts import DATASETS, PUBLISHED, RECORDS_FILE
    from autodp.ingest.layouts import parse_mapping
    from autodp.orchestration.main_job import run_search_dag

    store = store_of(args)
    conf = {"source": str(Path(args.source).resolve()) if "://" not in args.source else args.source,
            "file_format": args.format, "layout": args.layout, "max_record_bytes": args.max_record_bytes,
            "mapping": parse_mapping(args.map), "store": store.uri, **search_params(args),
            "eval": (str(Path(args.eval).resolve()) if "://" not in args.eval else args.eval) if args.eval else ""}
    with local_llm() if args.method != "random" or args.llm_judge else nullcontext():
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
