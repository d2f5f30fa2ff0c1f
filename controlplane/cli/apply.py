"""`controlplane apply`: change the environment's live targets to match the config."""

from __future__ import annotations

import argparse
import sys

from controlplane import engine
from controlplane.cli import arguments
from controlplane.cli.terminal import color, confirm
from controlplane.render import render_apply, render_plan_text

DESCRIPTION = (
    "Change the environment's live targets to match the config. Reads the config (the folder, "
    "or --rev from git), validates it, reads each target's live state, shows the plan, asks, "
    "and applies it change by change; stops if the live state changed since the plan was shown."
)
PARENTS = (arguments.config_path(), arguments.environment(), arguments.revision())
USAGE_EXIT = 1  # any error is 1, as for plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="apply without asking (required when stdin is not a terminal)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be applied, and change nothing"
    )


def run(args: argparse.Namespace) -> int:
    desired = engine.desired_state(args.path, args.env, args.rev)
    ok = True
    for planned in engine.plan_targets(
        desired, engine.targets_for(desired.environment, engine.ConfigRepository(args.path))
    ):
        target, plan = planned.target, planned.plan
        sys.stdout.write(render_plan_text(plan, color=color(sys.stdout)))
        if plan.empty:
            continue
        if args.dry_run:
            sys.stdout.write(render_apply(engine.dry_run(plan, target.name)))
            continue
        if not args.auto_approve and not confirm(f"Apply these changes to {target.name}?"):
            print("Apply cancelled.")
            return 1
        result = engine.apply_plan(plan, target)
        sys.stdout.write(render_apply(result))
        ok = ok and result.ok
    return 0 if ok else 1
