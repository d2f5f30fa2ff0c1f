"""`controlplane evaluate`: SLO, cost and canary policies against Prometheus, now or at a time."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from controlplane import engine
from controlplane.cli import arguments
from controlplane.cli.terminal import color
from controlplane.errors import ConfigError
from controlplane.policy import Outcome, evaluate_state
from controlplane.render import render_evaluations

DESCRIPTION = (
    "Evaluate the policies that select an environment, at a given time, and print each pass / "
    "fail / inconclusive result with its evidence. Exit 0 when nothing failed, 2 when a policy "
    "failed, 1 on an error."
)
PARENTS = (
    arguments.config_path(),
    arguments.environment(),
    arguments.revision(),
    arguments.output("text", "json"),
)
USAGE_EXIT = 1  # 2 means "a policy failed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy", action="append", metavar="NAME", help="only this policy (repeatable)"
    )
    parser.add_argument(
        "--at", metavar="TIME", help="evaluation time: ISO 8601 or Unix seconds (default: now)"
    )
    parser.add_argument(
        "--prometheus", metavar="URL", help="Prometheus URL (default: the Environment's)"
    )
    parser.add_argument(
        "--canary-since",
        metavar="TIME",
        help="when the canaries went live, to judge them as `serve` does (default: one fixed "
        "test over each canary policy's horizon, maxLooks x interval)",
    )


def run(args: argparse.Namespace) -> int:
    at = arguments.parse_time(args.at)
    desired = engine.desired_state(args.path, args.env, args.rev)
    source = engine.metric_source_for(desired.environment, args.prometheus)
    if source is None:
        raise ConfigError(f"environment {args.env!r} has no prometheus.url; pass --prometheus")
    starts: dict[str, datetime] = {}
    if args.canary_since:
        since = arguments.parse_time(args.canary_since, "--canary-since")
        starts = {r.name: since for r in desired.routes if r.spec.canary is not None}
    results = evaluate_state(desired, source, at, args.policy, starts)
    if args.output == "json":
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        sys.stdout.write(render_evaluations(results, color=color(sys.stdout)))
    return 2 if any(r.outcome is Outcome.FAIL for r in results) else 0
