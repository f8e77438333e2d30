"""What the commands share: the store, ingest and output options, the store a command
opens, JSON output, and the local LLM server for a command's duration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from autodp.settings import Settings


def one_line(message: str) -> str:
    """An error for a terminal: its lines joined, control characters (a source's bytes may
    carry them) shown escaped, API keys redacted."""
    from autodp.llm.endpoints import redact

    joined = "; ".join(line.strip() for line in redact(message).split("\n") if line.strip())
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in joined)


def ingest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="JSONL, JSON array, Parquet or CSV file (gzip ok), local or s3://")
    store_option(parser)
    ingest_options(parser)


def ingest_options(parser: argparse.ArgumentParser) -> None:
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


def store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None,
                        help="artifact store: a directory or s3://bucket/prefix "
                             "(default: $AUTODP_STORE, else $AUTODP_HOME/store, else ./.autodp/store)")


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def store_of(args: argparse.Namespace):
    from autodp.store import open_store

    return open_store(args.store or Settings.from_env().store_uri)


def ingest_step(args: argparse.Namespace, store, source: str) -> dict[str, Any]:
    from autodp.ingest import ingest

    return ingest(source, store, file_format=args.format, layout=args.layout,
                  mapping=args.map, max_record_bytes=args.max_record_bytes)


def dataset_key_of(args: argparse.Namespace, store, source: str) -> str:
    """The source's dataset: a file or URL is ingested; anything else is a stored dataset's key."""
    if "://" in source or Path(source).exists():
        return ingest_step(args, store, source)["dataset_key"]
    return source


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def report(args: argparse.Namespace, result: Any, line: str) -> int:
    """A command's result as JSON with --json, else its one-line summary."""
    if args.json:
        print_json(result)
    else:
        print(line)
    return 0


def local_llm():
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
