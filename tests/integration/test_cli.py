"""The CLI as a user runs it: a real process, its exit codes and its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controlplane.cli import COMMANDS
from tests.support.config import REPO, edit
from tests.support.processes import git


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "controlplane", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_validate_the_shipped_config() -> None:
    result = run("validate")
    assert result.returncode == 0
    assert result.stdout.startswith("✓ valid: 3 environments (dev, prod, staging)")


def test_invalid_config_exits_1_with_one_line_per_problem(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    edit(config, "environments/prod/models.yaml", "pool: l4", "pool: a100")
    result = run("validate", str(config))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == "✗ 2 problems in 2 files"
    assert lines[0].startswith("environments/prod/models.yaml:")
    assert "error: Model/chat-small spec.pool: found a reference to GpuPool 'a100'" in lines[0]
    assert lines[1] == (
        "environments/prod/routes.yaml:12: error: Route/chat spec.canary.percent: "
        "found 140; expected at most 100 [schema]"
    )


def test_json_output(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    result = run("validate", str(config), "--output", "json")
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert body["environments"] == ["dev", "prod", "staging"]
    [problem] = body["problems"]
    assert problem == {
        "file": "environments/prod/routes.yaml",
        "line": 12,
        "path": "spec.canary.percent",
        "found": "140",
        "expected": "at most 100",
        "rule": "schema",
        "resource": "Route/chat",
        "message": "found 140; expected at most 100",
    }


def test_json_output_when_valid() -> None:
    body = json.loads(run("validate", "--output", "json", "--env", "dev").stdout)
    assert body == {"valid": True, "environments": ["dev"], "problems": []}


def test_github_annotations(config: Path) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    result = run("validate", str(config), "--output", "github")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        "::error file=environments/prod/routes.yaml,line=12,title=controlplane validate%3A "
        "schema::Route/chat spec.canary.percent: found 140; expected at most 100"
    )


def test_env_filter_and_unknown_env(config: Path) -> None:
    edit(config, "environments/staging/models.yaml", "pool: l4", "pool: a100")
    assert run("validate", str(config), "--env", "prod").returncode == 0
    assert run("validate", str(config), "--env", "prod", "--env", "staging").returncode == 1
    result = run("validate", str(config), "--env", "qa")
    assert result.returncode == 2
    assert "no environment 'qa'" in result.stderr
    assert "found: dev, prod, staging" in result.stderr


@pytest.mark.integration
def test_rev_reads_git_without_checking_out(config: Path) -> None:
    git(config, "init", "-b", "main")
    git(config, "add", ".")
    git(config, "commit", "-m", "good")
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    assert run("validate", "--rev", "HEAD", cwd=config).returncode == 0
    assert run("validate", cwd=config).returncode == 1
    result = run("validate", "--rev", "does-not-exist", cwd=config)
    assert result.returncode == 2
    assert "'does-not-exist': no such revision" in result.stderr


@pytest.mark.parametrize(
    "args",
    [("validate", "/no/such/dir"), ("validate", "--output", "yaml"), ("frobnicate",), ()],
)
def test_usage_errors_exit_2(args: tuple[str, ...]) -> None:
    assert run(*args).returncode == 2


def test_a_folder_without_environments_is_a_usage_error(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path))
    assert result.returncode == 2
    assert "is this a controlplane config repository?" in result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert f"usage: controlplane {command}" in result.stdout
    assert len(result.stdout.splitlines()) > 5


def test_the_command_list_loads_no_command() -> None:
    """`controlplane --help` lists every command from the table, importing none of them."""
    code = (
        "import contextlib, io, sys\n"
        "from controlplane.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('controlplane.cli.')))\n"
        "print(out.getvalue())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    first, _, listing = result.stdout.partition("\n")
    assert first == "[]"
    for command in COMMANDS:
        assert command in listing


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "controlplane"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("controlplane ")
