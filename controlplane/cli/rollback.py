"""`controlplane rollback`: a rollback pull request for a failing policy, now."""

from __future__ import annotations

import argparse
import sys

from controlplane import engine
from controlplane.cli import arguments
from controlplane.cli.terminal import color
from controlplane.render import render_evaluations, render_pull_request_file
from controlplane.rollback.decision import Decision
from controlplane.service.settings import load_settings

DESCRIPTION = (
    "Evaluate POLICY in ENV now; if a check fails, blame the applied commit from serve's "
    "history, revert (or patch) it on a rollback/ branch, and open a pull request with the "
    "evidence and the plan. Uses serve's settings and work folder. Exit 0 when a PR was opened "
    "or written (or nothing fails), 1 when none could be made, 2 on bad input."
)
PARENTS = (arguments.environment(), arguments.service())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy", required=True, help="the SLOPolicy, CostPolicy or CanaryAnalysis"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="build and validate the rollback, print the PR and write it to WORKDIR/rollbacks/; "
        "push nothing, open nothing",
    )
    parser.add_argument("--commit", help="blame this commit instead of attributing")
    parser.add_argument("--at", help="evaluate at this time (ISO 8601 or Unix seconds)")


def run(args: argparse.Namespace) -> int:
    at = arguments.parse_time(args.at)
    keys = ("repo", "branch", "workdir", "database_url")
    settings = load_settings(args.config, {k: getattr(args, k) for k in keys})
    done = engine.rollback_now(
        settings.mirror(),
        settings.history(),
        settings.workdir / "rollbacks",
        args.env,
        args.policy,
        at,
        args.dry_run,
        args.commit,
    )
    sys.stdout.write(render_evaluations(done.evaluations, color=color(sys.stdout)))
    if done.result is None:
        print(f"nothing fails in {args.env} as of live commit {done.live_commit[:12]}: no rollback")
        return 0
    result = done.result
    if result.decision is Decision.DRY_RUN and result.proposal is not None:
        print("\n--- dry run: the pull request that would be opened ---\n")
        sys.stdout.write(render_pull_request_file(result.proposal))
    print(f"rollback: {result.decision.value}: {result.message}")
    return 1 if result.decision in (Decision.FAILED, Decision.NO_ATTRIBUTION) else 0
