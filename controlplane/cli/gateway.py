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
CONTENT_LEVELS = ("none", "redacted", "full")  # controlplane.gateway.audit.ContentLevel


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
        help="keep the live config in this file across restarts, and the budgets' spend and the "
        "response cache beside it (default: memory only)",
    )
    serve.add_argument(
        "--audit-log",
        type=Path,
        metavar="FILE",
        help="the request log, JSON lines rotated daily (default: gateway-audit.jsonl beside "
        "--state; without --state, none unless given)",
    )
    serve.add_argument(
        "--audit-content",
        choices=CONTENT_LEVELS,
        default="redacted",
        help="prompts and answers in the request log: none, redacted (personal data replaced, "
        "the default) or full",
    )
    serve.add_argument(
        "--audit-retention-days",
        type=int,
        default=30,
        metavar="N",
        help="days of request log kept (default: 30)",
    )


def run(args: argparse.Namespace) -> int:
    # numpy's BLAS threads fight the event loop and each other for a small machine's cores: a
    # sentence embeds in 4-6 ms on one thread, 36-50 ms on two under load. Set before numpy loads.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    from controlplane.gateway.app import serve  # the server stack loads only for this command
    from controlplane.gateway.audit import AuditSettings, ContentLevel

    token = os.environ.get(args.token_env)
    if not token:
        raise UsageError(
            f"set {args.token_env} to the admin token: the gateway's admin API needs one"
        )
    if args.max_body_bytes < 1:
        raise UsageError("--max-body-bytes must be at least 1")
    if args.audit_retention_days < 1:
        raise UsageError("--audit-retention-days must be at least 1")
    register_secret(token)
    audit_path = args.audit_log
    if audit_path is None and args.state is not None:
        audit_path = args.state.with_name("gateway-audit.jsonl")
    audit = (
        AuditSettings(audit_path, ContentLevel(args.audit_content), args.audit_retention_days)
        if audit_path is not None
        else None
    )
    limits = Limits(max_body_bytes=args.max_body_bytes)
    serve(args.host, args.port, token, args.state, limits, audit)
    return 0
