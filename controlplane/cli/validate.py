"""`controlplane validate`: check the config and report every problem with file, line and field."""

from __future__ import annotations

import argparse
import sys

from controlplane import engine
from controlplane.cli import arguments
from controlplane.cli.terminal import color
from controlplane.render import (
    render_validation_github,
    render_validation_json,
    render_validation_text,
)

DESCRIPTION = (
    "Validate every environment (or those named with --env) and the policies that select them. "
    "Reports every problem with file:line and field. Exit 0 when valid, 1 when invalid, 2 on a "
    "usage error."
)
PARENTS = (
    arguments.config_path(),
    arguments.revision(),
    arguments.output("text", "json", "github"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env",
        action="append",
        metavar="ENV",
        default=[],
        help="validate only this environment (repeatable; default: all)",
    )


def run(args: argparse.Namespace) -> int:
    chosen, result = engine.validate(args.path, args.env, args.rev)
    if args.output == "json":
        sys.stdout.write(render_validation_json(result, chosen))
    elif args.output == "github":
        sys.stdout.write(render_validation_github(result, chosen))
    else:
        sys.stdout.write(render_validation_text(result, chosen, color=color(sys.stdout)))
    return 0 if result.ok else 1
