"""`controlplane forge-standin`: the GitHub pulls STAND-IN over a local bare repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from controlplane.cli import arguments
from controlplane.credentials import resolve_secret

DESCRIPTION = (
    "Not a forge: serves the GitHub REST pulls subset that rollback uses (pulls, labels, "
    "reviewers, comments, merge) over a local bare repository, for tests and the demo. A merge "
    "sends a signed push webhook when --webhook-url is set."
)
PARENTS = (arguments.listen(8102),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, type=Path, help="the bare repository")
    parser.add_argument(
        "--token", default="env:FORGE_TOKEN", metavar="REF", help="token clients must send"
    )
    parser.add_argument("--repository", default="local/config", help="owner/name it answers for")
    parser.add_argument("--webhook-url", help="push webhook sent after a merge")
    parser.add_argument("--webhook-secret", metavar="REF", help="HMAC secret for the webhook")


def run(args: argparse.Namespace) -> int:
    from controlplane.http_server import serve_http
    from controlplane.testing.forge_standin import ForgeStandIn, create_forge_app

    forge = ForgeStandIn(
        args.repo,
        resolve_secret(args.token),
        args.repository,
        args.webhook_url,
        resolve_secret(args.webhook_secret) if args.webhook_secret else None,
        f"http://{args.host}:{args.port}",
    )
    print(
        f"forge STAND-IN (GitHub pulls subset, not a forge) on http://{args.host}:{args.port}",
        flush=True,
    )
    serve_http(create_forge_app(forge), args.host, args.port)
    return 0
