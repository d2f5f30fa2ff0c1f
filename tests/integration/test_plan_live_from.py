"""`plan --live-from REV`: the PR's plan against its base as if applied, contacting no target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.config import edit
from tests.support.processes import git


def plan(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlplane", "plan", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_pr_is_planned_against_its_base_without_any_gateway(config: Path) -> None:
    git(config, "init", "-q", "-b", "main")
    git(config, "add", ".")
    git(config, "commit", "-qm", "base")
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 25")
    git(config, "commit", "-qam", "raise the prod canary")
    shown = plan(
        config,
        "--env",
        "prod",
        "--rev",
        "HEAD",
        "--live-from",
        "HEAD~1",
        "--output",
        "markdown",
        "--detailed-exitcode",
    )
    assert shown.returncode == 2, shown.stderr
    assert "**Plan: 0 to create, 1 to change, 0 to delete." in shown.stdout
    assert "| ~ | `Route/chat` | `spec.canary.percent`: `10` → `25` |" in shown.stdout
    same = plan(config, "--env", "prod", "--live-from", "HEAD", "--detailed-exitcode")
    assert same.returncode == 0, same.stderr
    assert "No changes." in same.stdout
    new_env = plan(config, "--env", "prod", "--live-from", "HEAD", "--rev", "HEAD")
    assert new_env.returncode == 0
    missing = plan(config, "--env", "prod", "--live-from", "no-such-rev")
    assert missing.returncode != 0
    assert "no-such-rev" in missing.stderr
    assert "Traceback" not in missing.stderr
