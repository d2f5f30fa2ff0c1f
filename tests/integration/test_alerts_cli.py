"""`controlplane alerts` as a user runs it: a real process writing a rule file promtool accepts,
printing to stdout, and refusing bad input with file and line, exit 2 and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.config import REPO, edit
from tests.support.prometheus import require_prometheus


def alerts(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "controlplane", "alerts", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_writes_a_rule_file_prometheus_loads(tmp_path: Path) -> None:
    require_prometheus()
    path = tmp_path / "controlplane-rules.yml"
    result = alerts("--environment", "prod", "--environment", "staging", "--out", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (f"wrote 80 recording and 26 alerting rules in 2 groups to {path}\n")
    assert result.stderr == ""
    groups = yaml.safe_load(path.read_text())["groups"]
    assert [g["name"] for g in groups] == [
        "controlplane/prod/chat-slo",
        "controlplane/staging/chat-slo",
    ]
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_prints_to_stdout_and_warns_of_environments_without_slos() -> None:
    result = alerts("-o", "json")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)["groups"]
    assert {r["labels"]["environment"] for g in groups for r in g["rules"]} == {
        "prod",
        "staging",
    }
    assert result.stderr == (
        "controlplane: WARNING: environment 'dev': no rules (no SLOPolicy selects it)\n"
    )


def test_an_invalid_policy_is_reported_with_file_and_line(config: Path, tmp_path: Path) -> None:
    edit(config, "policies/slo-chat.yaml", "target: 99.9", "target: 140")
    path = tmp_path / "rules.yml"
    result = alerts(str(config), "--out", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(
        "policies/slo-chat.yaml:20: error: SLOPolicy/chat-slo spec.objectives[0].target: "
        "found 140; expected less than 100 [schema]"
    )
    assert not path.exists()
    assert alerts(str(config), "--env", "nope").returncode == 2
