"""`controlplane serve`: the reconciler service (API, webhook, polling, policies, history)."""

from __future__ import annotations

import argparse

from controlplane.cli import arguments

DESCRIPTION = (
    "Keep every environment's live targets equal to the branch head: apply on a signed push "
    "webhook, on polling and on manual sync; record history; report drift; evaluate policies "
    "and open rollback pull requests. Settings: flags over CONTROLPLANE_* variables over "
    "--config FILE (YAML)."
)
PARENTS = (arguments.service(),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        action="append",
        dest="environments",
        metavar="ENV",
        help="environment to reconcile (repeatable; default: all)",
    )
    parser.add_argument("--poll-interval", type=float, help="seconds between polls (60)")
    parser.add_argument("--host", help="address (default: 127.0.0.1)")
    parser.add_argument("--port", type=arguments.port_number, help="port (default: 8080)")


def run(args: argparse.Namespace) -> int:
    from controlplane.service.server import serve
    from controlplane.service.settings import load_settings

    keys = ("repo", "branch", "environments", "workdir", "database_url", "poll_interval")
    settings = load_settings(args.config, {k: getattr(args, k) for k in (*keys, "host", "port")})
    serve(settings)
    return 0
