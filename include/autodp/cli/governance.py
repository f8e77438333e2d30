"""The governance log (approve, reject, retire, list recipes), curation with an approved
recipe, and exports of what was published or curated."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autodp.cli.common import (
    ingest_arguments,
    json_option,
    print_json,
    report,
    store_of,
    store_option,
)


def register(commands) -> None:
    """Add this module's commands to ``autodp``'s subcommands."""
    recipes = commands.add_parser("recipe", help="the governance log: approve, reject or retire published strategies",
                                  description="Decisions are recorded under your operating-system account "
                                  "(via cli); in the review app, under your Airflow login.")
    recipe_commands = recipes.add_subparsers(required=True, metavar="ACTION")
    approve = recipe_commands.add_parser("approve", help="approve a search's published strategy as a recipe")
    approve.add_argument("published_key")
    approve.add_argument("--name", required=True, help="the recipe's name, used by autodp_curate")
    approve.add_argument("--reason", required=True, help="why it is approved")
    _drift_arguments(approve)
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
        store_option(action)
        json_option(action)

    curator = commands.add_parser("curate", help="apply an approved recipe to new data, validate, publish")
    ingest_arguments(curator)
    curator.add_argument("--recipe", required=True, help="name of an approved recipe")
    _curate_arguments(curator)
    json_option(curator)
    curator.set_defaults(run=_curate)

    exporter = commands.add_parser("export", help="a published, curated or stored dataset as JSONL (Alpaca or "
                                   "ShareGPT layout) or as a Hugging Face dataset folder")
    exporter.add_argument("key", help="a published key, a curated key or a dataset key")
    exporter.add_argument("--layout", choices=("alpaca", "sharegpt", "hf"), default="alpaca")
    exporter.add_argument("--out", type=Path, required=True, help="the JSONL file, or the folder for hf")
    store_option(exporter)
    json_option(exporter)
    exporter.set_defaults(run=_export)


def _drift_arguments(parser: argparse.ArgumentParser) -> None:
    """The recipe's drift rules (autodp.curate.drift), defaults from DriftRules."""
    from autodp.curate import DriftRules

    rules = DriftRules()
    parser.add_argument("--drift-policy", choices=("warn", "fail"), default=rules.policy,
                        help="a curate run whose batch drifts: published with a warning, or failed (default %(default)s)")
    for name, what in (("max_step_share_change", "a step's share of rows dropped or rewritten, absolute"),
                       ("max_rate_change", "empty and duplicate rates, absolute"),
                       ("max_length_change", "length quantiles, relative"),
                       ("max_language_share_change", "each language's share, absolute"),
                       ("max_cardinality_change", "a categorical metadata field's count of distinct values, relative")):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(rules, name),
                            help=f"drift allowed in {what} (default %(default)s)")


def _recipe_approve(args: argparse.Namespace) -> int:
    from autodp.curate import DriftRules, Reviewer, approve

    rules = DriftRules.from_params({**vars(args), "policy": args.drift_policy})
    approved = approve(store_of(args), args.published_key, args.name, Reviewer.from_cli(), args.reason, rules)
    return report(args, approved, f"recipe {approved['name']!r} approved by {approved['approved_by']} (cli) at "
                   f"{approved['approved_at']}: {' > '.join(s['operator'] for s in approved['strategy'])} "
                   f"({approved['recipe_key']})")


def _recipe_reject(args: argparse.Namespace) -> int:
    from autodp.curate import Reviewer, reject

    decision = reject(store_of(args), args.published_key, Reviewer.from_cli(), args.reason)
    return report(args, decision, f"published search {args.published_key} rejected by {decision['by']} (cli) at "
                   f"{decision['at']}")


def _recipe_retire(args: argparse.Namespace) -> int:
    from autodp.curate import Reviewer, retire

    decision = retire(store_of(args), args.name, Reviewer.from_cli(), args.reason)
    return report(args, decision, f"recipe {args.name!r} retired by {decision['by']} (cli) at {decision['at']}; "
                   "autodp_curate refuses it")


def _recipe_list(args: argparse.Namespace) -> int:
    from autodp.curate import recipes

    found = recipes(store_of(args))
    if args.json:
        print_json(found)
        return 0
    for entry in found:
        state = f"retired by {entry['retired']['by']}" if entry["retired"] else "active"
        print(f"{entry['name']:<20} {state:<24} approved by {entry['approved_by']} "
              f"({entry.get('approved_via', 'cli')}) at {entry['approved_at']}: {entry['reason']}")
    return 0


def _curate_arguments(parser: argparse.ArgumentParser) -> None:
    """Validation, sharding and export, named as the autodp_curate DAG's Params, defaults from CurateConfig."""
    from autodp.curate import ValidationRules

    rules = ValidationRules()
    parser.add_argument("--max-output-chars", type=int, default=rules.max_output_chars,
                        help="validation fails when an output is longer (default %(default)s characters)")
    parser.add_argument("--max-duplicate-rate", type=float, default=rules.max_duplicate_rate,
                        help="validation fails above this share of duplicate records (default %(default)s)")
    parser.add_argument("--max-row-drift", type=float, default=rules.max_row_drift,
                        help="validation fails when the row count moves more than this fraction from the last "
                             "curated run (default %(default)s)")
    parser.add_argument("--shard-rows", type=int, default=0,
                        help="apply data above this many rows in shards (default: $AUTODP_SHARD_ROWS)")
    parser.add_argument("--export-layout", choices=("none", "alpaca", "sharegpt"), default="none",
                        help="also store the curated dataset as JSONL in this layout (default none)")


def curate_params(args: argparse.Namespace) -> dict[str, Any]:
    """The curate run's settings under the DAG's Param names (``CurateConfig.from_params``)."""
    return {"recipe": args.recipe, "source": args.source, "mapping": args.map, "file_format": args.format,
            "layout": args.layout, "max_record_bytes": args.max_record_bytes, "max_output_chars": args.max_output_chars,
            "max_duplicate_rate": args.max_duplicate_rate, "max_row_drift": args.max_row_drift,
            "shard_rows": args.shard_rows, "export_layout": args.export_layout}


def _curate(args: argparse.Namespace) -> int:
    from autodp.curate import CurateConfig, curate
    from autodp.curate.drift import breach_line

    curated = curate(store_of(args), CurateConfig.from_params(curate_params(args)))
    if args.json:
        print_json(curated)
    else:
        rows = curated["rows"]
        print(f"curated {rows['in']} -> {rows['out']} rows with recipe {args.recipe!r}; "
              f"published curated/{curated['curated_key']}/")
        for breach in curated["drift"]["breaches"]:
            print(f"[DRIFT] {breach_line(breach)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from autodp.exports import export

    result = export(store_of(args), args.key, args.out, args.layout)
    return report(args, result, f"exported {result['rows']} rows of dataset {result['dataset_key']} "
                                 f"({result['layout']}) to {result['path']}")
