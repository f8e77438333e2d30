"""The ``autodp`` command. Each subcommand calls the same step function a DAG task calls;
the commands live in one module per group (``data``, ``search``, ``governance``,
``augmentation``, ``services``), each adding its own to the parser."""

from __future__ import annotations

import argparse
import sys

from autodp.cli import augmentation, data, governance, search, services
from autodp.cli.common import one_line

__all__ = ["main", "one_line", "parser"]


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as error:  # every failure ends as one readable line, not a traceback
        from autodp.curate import DriftFailed, ValidationFailed
        from autodp.ingest import IngestError
        from autodp.llm.endpoints import UntrustedEndpoint
        from autodp.operators.resources import MissingResource
        from autodp.store import ArtifactNotFound, StoreError
        from autodp.tables.dbt import DbtError

        if isinstance(error, (IngestError, ArtifactNotFound, DbtError, ValueError, FileNotFoundError, LookupError,
                              MissingResource, UntrustedEndpoint, TimeoutError, ValidationFailed, DriftFailed,
                              StoreError)):
            print(f"autodp: error: {one_line(str(error))}", file=sys.stderr)
            return 2
        raise


def parser() -> argparse.ArgumentParser:
    built = argparse.ArgumentParser(prog="autodp", description="The ``autodp`` command. Each subcommand calls "
                                    "the same step function a DAG task calls.")
    commands = built.add_subparsers(required=True, metavar="COMMAND")
    for group in (data, search, governance, augmentation, services):
        group.register(commands)
    return built
