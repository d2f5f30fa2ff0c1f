"""`controlplane gateway serve`: the embedded LLM gateway."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from controlplane.cli import arguments
from controlplane.credentials import register_secret
from controlplane.errors import UsageError
from controlplane.http_limits import Limits

DESCRIPTION = (
    "The embedded gateway: /v1/chat/completions and /v1/models for clients, /admin/v1 for "
    "controlplane (bearer token), /metrics for Prometheus."
)
PARENTS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="gateway_command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        parents=[arguments.listen(4000)],
        help="run the gateway (OpenAI-compatible proxy, admin API, /metrics)",
        description=DESCRIPTION,
    )
    serve.add_argument(
        "--token-env",
        default="CONTROLPLANE_GATEWAY_TOKEN",
        metavar="VAR",
        help="environment variable holding the admin token (default: CONTROLPLANE_GATEWAY_TOKEN)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=Limits.max_body_bytes,
        metavar="N",
        help=f"largest request body accepted (default: {Limits.max_body_bytes})",
    )
    serve.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the live config in this file across restarts (default: memory only)",
    )


def run(args: argparse.Namespace) -> int:
    from controlplane.gateway.app import serve  # the server stack loads only for this command

    token = os.environ.get(args.token_env)
    if not token:
        raise UsageError(
            f"set {args.token_env} to the admin token: the gateway's admin API needs one"
        )
    if args.max_body_bytes < 1:
        raise UsageError("--max-body-bytes must be at least 1")
    register_secret(token)
    serve(args.host, args.port, token, args.state, Limits(max_body_bytes=args.max_body_bytes))
    return 0
