"""`controlplane status`: each environment's sync status, from a running service."""

from __future__ import annotations

import argparse
import json
import sys

from controlplane.cli import arguments
from controlplane.credentials import resolve_secret
from controlplane.render import render_status
from controlplane.service_client import ServiceClient

DESCRIPTION = "Read /api/v1/environments from `controlplane serve`."
PARENTS = (arguments.output("text", "json"),)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="service URL (default: http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--token",
        default="env:CONTROLPLANE_API_TOKEN",
        metavar="REF",
        help="API token reference, env:VAR or file:PATH (default: env:CONTROLPLANE_API_TOKEN)",
    )


def run(args: argparse.Namespace) -> int:
    client = ServiceClient(args.url, resolve_secret(args.token))
    environments = client.environments()
    if args.output == "json":
        print(json.dumps({"environments": environments}, indent=2))
    else:
        sys.stdout.write(render_status(environments))
    return 0
