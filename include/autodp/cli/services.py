"""Long-running services: the local LLM server and Airflow with the review app."""

from __future__ import annotations

import argparse
import sys
import time

from autodp.settings import Settings


def register(commands) -> None:
    """Add this module's commands to ``autodp``'s subcommands."""
    llm = commands.add_parser("llm", help="the local LLM server")
    llm_commands = llm.add_subparsers(required=True, metavar="ACTION")
    serve = llm_commands.add_parser("serve", help="serve SmolLM2-135M-Instruct on loopback (OpenAI-compatible)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(run=_llm_serve)

    ui = commands.add_parser("ui", help="Airflow's api-server, scheduler and dag-processor on the main job's Airflow "
                             "home, with the review app: prints the URL and the login")
    ui.add_argument("--port", type=int, default=8080)
    ui.set_defaults(run=_ui)


def _llm_serve(args: argparse.Namespace) -> int:
    import os
    from urllib.parse import urlparse

    from autodp.llm.endpoints import Endpoint
    from autodp.llm.server import server_command

    configured = urlparse(Endpoint.from_env("data").base_url)
    command = server_command(args.host or configured.hostname, args.port or configured.port)
    print(f"serving on http://{args.host or configured.hostname}:{args.port or configured.port}/v1", flush=True)
    os.execv(command[0], command)


def _ui(args: argparse.Namespace) -> int:
    import signal

    from autodp.orchestration.services import AirflowServices, passwords, services_environment
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
