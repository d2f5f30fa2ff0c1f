"""`controlplane experiment report`: an A/B experiment's verdict, effects and confidence
sequences, against Prometheus."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from controlplane.cli import arguments
from controlplane.cli.terminal import color
from controlplane.errors import ConfigError

DESCRIPTION = (
    "A/B experiments of a route's variants. `report NAME` reads the experiment's evidence from "
    "Prometheus and prints its verdict (winner, loser, no difference, continue), each "
    "treatment's effect on every metric with its confidence sequence, the samples per variant "
    "and the queries. Exit 0 with a report, 1 on an error, 2 on bad input."
)
PARENTS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="experiment_command", metavar="COMMAND", required=True)
    report = commands.add_parser(
        "report",
        parents=[arguments.revision(), arguments.output("text", "markdown", "json")],
        help="an experiment's verdict and effects, from Prometheus",
        description=DESCRIPTION,
    )
    report.add_argument("name", metavar="NAME", help="the Experiment")
    report.add_argument(
        "path",
        nargs="?",
        default=".",
        type=Path,
        help="the config repository root, holding environments/ and policies/ (default: .)",
    )
    report.add_argument(
        "--environment",
        "--env",
        dest="env",
        metavar="ENV",
        help="the environment (default: the only one the experiment runs in)",
    )
    report.add_argument(
        "--since",
        metavar="TIME",
        help="when the experiment went live: ISO 8601 or Unix seconds (default: its maxDuration "
        "before --at)",
    )
    report.add_argument(
        "--at", metavar="TIME", help="report time: ISO 8601 or Unix seconds (default: now)"
    )
    report.add_argument(
        "--prometheus", metavar="URL", help="Prometheus URL (default: the Environment's)"
    )


def run(args: argparse.Namespace) -> int:
    from controlplane.engine import metric_source_for
    from controlplane.engine.experiments import experiment_report, experiment_state
    from controlplane.render.experiment import (
        render_experiment_json,
        render_experiment_markdown,
        render_experiment_text,
    )

    at = arguments.parse_time(args.at)
    since = arguments.parse_time(args.since, "--since") if args.since else None
    state = experiment_state(args.path, args.name, args.env, args.rev)
    source = metric_source_for(state.environment, args.prometheus)
    if source is None:
        raise ConfigError(f"environment {state.name!r} has no prometheus.url; pass --prometheus")
    try:
        report = experiment_report(state, args.name, source, at, since)
    finally:
        source.inner.close()
    match args.output:
        case "json":
            sys.stdout.write(render_experiment_json(report))
        case "markdown":
            sys.stdout.write(render_experiment_markdown(report))
        case _:
            sys.stdout.write(render_experiment_text(report, color=color(sys.stdout)))
    return 0
