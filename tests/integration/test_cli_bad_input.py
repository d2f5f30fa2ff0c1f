"""Every command, given bad arguments, a missing repository or an unreachable URL, answers with
a one-line reason and the documented exit code: never a traceback, never an internal error.

Real processes (`python -m controlplane`), run a few at a time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.cli import COMMANDS
from tests.support.config import REPO, edit
from tests.support.processes import free_port, git

UNREACHABLE = f"http://127.0.0.1:{free_port()}"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    exit: int
    says: str  # a fragment of the reason, on stderr
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Places:
    config: Path  # a valid config repository (a git work tree), its gateway unreachable
    bare: Path  # a bare clone of it, as `serve` and `rollback` take
    tmp: Path


@pytest.fixture
def places(tmp_path: Path) -> Places:
    config = tmp_path / "config"
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, config / folder)
    edit(config, "environments/dev/environment.yaml", "http://127.0.0.1:4000", UNREACHABLE)
    edit(config, "environments/dev/environment.yaml", "http://127.0.0.1:9090", UNREACHABLE)
    git(config, "init", "-q", "-b", "main")
    git(config, "add", ".")
    git(config, "commit", "-qm", "config")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(config), str(bare))
    (tmp_path / "garbage.yaml").write_text("repo: [unclosed\n")
    (tmp_path / "state.json").write_text("{not json")
    return Places(config, bare, tmp_path)


def cases(p: Places) -> list[Case]:
    cfg, bare, tmp = str(p.config), str(p.bare), str(p.tmp)
    folders = iter(range(1000))

    def work() -> tuple[str, str]:
        """A work folder of its own per case (they run side by side), not created yet."""
        return ("--workdir", str(p.tmp / f"work-{next(folders)}"))

    token = (("CONTROLPLANE_GATEWAY_TOKEN", "t0ken-for-tests"),)
    return [
        Case((), 2, "usage: controlplane"),
        Case(("frobnicate",), 2, "invalid choice"),
        # validate
        Case(("validate", "/no/such/dir"), 2, "no such directory"),
        Case(("validate", cfg, "--env", "nope"), 2, "no environment 'nope'"),
        Case(("validate", cfg, "--rev", "nope"), 2, "no such revision"),
        Case(("validate", tmp), 2, "is this a controlplane config repository?"),
        Case(("validate", "--output", "xml"), 2, "invalid choice"),
        # schemas
        Case(("schemas", "--check", "--dir", "/no/such/dir"), 1, "stale or missing"),
        Case(("schemas", "--dir", "/proc/no/such"), 1, "cannot write"),
        # plan and apply: every error is 1 (2 means "changes" with --detailed-exitcode)
        Case(("plan", "/no/such/dir", "--env", "dev"), 1, "no such directory"),
        Case(("plan", cfg), 2, "--env"),
        Case(("plan", cfg, "--env", "nope"), 1, "no environment 'nope'"),
        Case(("plan", cfg, "--env", "dev", "--rev", "nope"), 1, "no such revision"),
        Case(("plan", cfg, "--env", "dev", "--live-from", "nope"), 1, "no such revision"),
        Case(("plan", cfg, "--env", "dev"), 1, "CONTROLPLANE_GATEWAY_TOKEN is not set"),
        Case(("plan", cfg, "--env", "dev"), 1, "ConnectError", token),
        Case(("apply", cfg, "--env", "dev", "--auto-approve"), 1, "ConnectError", token),
        Case(("apply", "/no/such/dir", "--env", "dev"), 1, "no such directory"),
        # evaluate: 2 means "a policy failed"; an unreachable Prometheus is inconclusive
        Case(("evaluate", cfg, "--env", "dev", "--at", "yesterday"), 1, "expected ISO 8601"),
        Case(("evaluate", cfg, "--env", "nope"), 1, "no environment 'nope'"),
        Case(("evaluate", cfg, "--env", "dev", "--prometheus", UNREACHABLE), 0, ""),
        # alerts: renders rules, contacts nothing
        Case(("alerts", "/no/such/dir"), 2, "no such directory"),
        Case(("alerts", cfg, "--environment", "nope"), 2, "no environment 'nope'"),
        Case(("alerts", cfg, "-o", "toml"), 2, "invalid choice"),
        Case(("alerts", cfg, "--out", "/proc/nope/rules.yml"), 2, "cannot write"),
        # experiment
        Case(("experiment",), 2, "required"),
        Case(("experiment", "report", "nope", cfg), 2, "no Experiment 'nope'"),
        Case(("experiment", "report", "x", cfg, "--since", "soon"), 2, "expected ISO 8601"),
        # serve: settings are checked before anything starts
        Case(("serve",), 2, "repo"),
        Case(("serve", "--config", "/no/such.yaml"), 2, "no such settings file"),
        Case(("serve", "--config", str(p.tmp / "garbage.yaml")), 2, "not valid YAML"),
        Case(("serve", "--repo", bare, "--port", "99999"), 2, "not a port number"),
        Case(
            ("serve", "--repo", bare, *work(), "--database-url", "nosuchdriver://x"),
            1,
            "history database",
        ),
        # status
        Case(
            ("status", "--url", UNREACHABLE, "--token", "env:T"),
            1,
            "cannot reach",
            (("T", "x" * 8),),
        ),
        Case(
            ("status", "--url", "not a url", "--token", "env:T"),
            1,
            "cannot reach",
            (("T", "x" * 8),),
        ),
        Case(("status", "--token", "env:UNSET_FOR_TESTS"), 2, "UNSET_FOR_TESTS is not set"),
        # rollback
        Case(
            ("rollback", "--repo", "/nonexistent", "--env", "dev", "--policy", "x", *work()),
            1,
            "cannot fetch branch 'main'",
        ),
        Case(("rollback", "--env", "dev"), 2, "--policy"),
        Case(
            ("rollback", "--repo", bare, "--env", "nope", "--policy", "x", *work()),
            2,
            "no environment 'nope'",
        ),
        Case(
            ("rollback", "--repo", bare, "--env", "dev", "--policy", "nope", *work()),
            2,
            "no policy 'nope'",
        ),
        Case(
            ("rollback", "--repo", bare, "--env", "dev", "--policy", "x", "--at", "soon", *work()),
            2,
            "expected ISO 8601",
        ),
        Case(
            (
                "rollback",
                "--repo",
                bare,
                "--env",
                "dev",
                "--policy",
                "x",
                *work(),
                "--database-url",
                "sqlite:////no/such/dir/h.db",
            ),
            1,
            "history database",
        ),
        # demo
        Case(("demo", "--requests", "0"), 2, "--requests must be at least 1"),
        Case(("demo", "--rate", "nan"), 2, "--rate above 0"),
        Case(("demo",), 2, "needs Prometheus", (("PATH", os.path.dirname(sys.executable)),)),
        # the gateway and the test kit's servers
        Case(("gateway",), 2, "required"),
        Case(("gateway", "serve", "--token-env", "UNSET_FOR_TESTS"), 2, "set UNSET_FOR_TESTS"),
        Case(("gateway", "serve", "--port", "70000"), 2, "not a port number"),
        Case(
            ("gateway", "serve", "--state", str(p.tmp / "state.json")),
            2,
            "not a gateway state file",
            token,
        ),
        Case(
            ("gateway", "serve", "--audit-log", "/proc/nope/audit.jsonl"),
            2,
            "the request log /proc/nope/audit.jsonl",
            token,
        ),
        Case(("gateway", "serve", "--audit-retention-days", "0"), 2, "at least 1", token),
        Case(("gateway", "serve", "--audit-content", "all"), 2, "invalid choice"),
        Case(("forge-standin", "--repo", bare, "--token", "env:UNSET_FOR_TESTS"), 2, "is not set"),
        Case(("upstream-sim", "--port", "abc"), 2, "not a port number"),
    ]


def run(case: Case, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONTROLPLANE_GATEWAY_TOKEN"}
    env.update({"NO_COLOR": "1", **dict(case.env)})
    return subprocess.run(
        [sys.executable, "-m", "controlplane", *case.args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def test_no_command_ends_in_a_traceback_on_bad_input(places: Places) -> None:
    every = cases(places)
    covered = {c.args[0] for c in every if c.args} & set(COMMANDS)
    assert covered == set(COMMANDS), f"no bad-input case for {set(COMMANDS) - covered}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: run(c, places.config), every))
    wrong = []
    for case, result in zip(every, results, strict=True):
        if (
            result.returncode != case.exit
            or case.says not in result.stderr
            or "Traceback" in result.stderr + result.stdout
            or "internal error" in result.stderr
        ):
            wrong.append(f"{' '.join(case.args)} → {result.returncode}:\n{result.stderr[-600:]}")
    assert not wrong, "\n\n".join(wrong)
