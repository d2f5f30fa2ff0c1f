"""`controlplane plan`: what apply would change on each of the environment's live targets."""

from __future__ import annotations

import argparse
import sys

from controlplane import engine
from controlplane.cli import arguments
from controlplane.cli.terminal import color
from controlplane.plan import Plan
from controlplane.render import render_plan_json, render_plan_markdown, render_plan_text

DESCRIPTION = (
    "Show what apply would change on the environment's live targets. Reads the config (the "
    "folder, or --rev from git), validates it, reads each target's live state and diffs them."
)
PARENTS = (
    arguments.config_path(),
    arguments.environment(),
    arguments.revision(),
    arguments.output("text", "json", "markdown"),
)
# With --detailed-exitcode, 2 means "there are changes" (as terraform's): errors are all 1.
USAGE_EXIT = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--live-from",
        metavar="REV",
        help="plan against the config at REV as if applied (e.g. the PR's base) instead of the "
        "live targets; contacts no target",
    )
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are, 1 on error",
    )


def run(args: argparse.Namespace) -> int:
    desired = engine.desired_state(args.path, args.env, args.rev)
    if args.live_from is not None:
        plans = engine.plans_as_if_applied(desired, args.path, args.live_from)
    else:
        plans = [
            p.plan
            for p in engine.plan_targets(
                desired, engine.targets_for(desired.environment, engine.ConfigRepository(args.path))
            )
        ]
    for plan in plans:
        sys.stdout.write(_render(plan, args.output))
    changes = any(not plan.empty for plan in plans)
    return 2 if args.detailed_exitcode and changes else 0


def _render(plan: Plan, output: str) -> str:
    if output == "json":
        return render_plan_json(plan)
    if output == "markdown":
        return render_plan_markdown(plan)
    return render_plan_text(plan, color=color(sys.stdout))
