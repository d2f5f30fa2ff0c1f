"""`controlplane alerts`: the SLO policies as Prometheus recording and burn-rate alerting rules."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from controlplane import engine
from controlplane.cli import arguments
from controlplane.errors import InvalidConfig, UsageError
from controlplane.render import render_validation_text
from controlplane.render.alert_rules import alert_rules, render_rules_json, render_rules_yaml

DESCRIPTION = (
    "Render the SLO policies that select each environment as Prometheus rules: recording rules "
    "of each objective's error ratio over its burn-rate windows, multi-window multi-burn-rate "
    "alerts (severity page or ticket) and threshold-guard alerts, so Prometheus and Alertmanager "
    "page even when controlplane is down. Load each environment's rules into the Prometheus "
    "that environment's policies read. Exit 0 when rendered, 2 when the config cannot be read "
    "or is invalid, or FILE cannot be written."
)
PARENTS = (arguments.config_path(), arguments.revision())

log = logging.getLogger("controlplane.alerts")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--environment",
        "--env",
        dest="environments",
        action="append",
        default=[],
        metavar="ENV",
        help="render only this environment (repeatable; default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write the rules to FILE (default: standard output)",
    )
    parser.add_argument(
        "-o",
        "--output",
        choices=("yaml", "json"),
        default="yaml",
        help="yaml, or json (which Prometheus reads too) (default: yaml)",
    )


def run(args: argparse.Namespace) -> int:
    chosen, result = engine.validate(args.path, args.environments, args.rev)
    if not result.ok:
        raise InvalidConfig(result.problems, render_validation_text(result, chosen))
    rules = alert_rules(result.states[e] for e in chosen)
    for omission in rules.omitted:
        log.warning("%s", omission)
    text = render_rules_json(rules) if args.output == "json" else render_rules_yaml(rules)
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}") from exc
    recording, alerting = rules.counts()
    groups = f"{len(rules.groups)} group{'' if len(rules.groups) == 1 else 's'}"
    print(f"wrote {recording} recording and {alerting} alerting rules in {groups} to {args.out}")
    return 0
