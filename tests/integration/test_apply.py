"""plan and apply end to end: a git revision, the CLI, and a real gateway process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import controlplane.cli.apply as apply_command
from controlplane import cli, engine
from controlplane.engine import apply_plan
from controlplane.errors import StaleLiveState, TargetUnavailable
from controlplane.plan import Change, Outcome, compute_plan
from controlplane.targets.gateway import GatewayDriver
from controlplane.validate import validate_config
from tests.support.config import REPO, edit
from tests.support.processes import TOKEN, free_port, gateway, git, simulator

pytestmark = pytest.mark.integration
DEV_KEY = "sk-dev-app-key-for-tests"


@dataclass
class Setup:
    repo: Path
    gateway: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "controlplane", *args],
            cwd=self.repo,
            text=True,
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "CONTROLPLANE_GATEWAY_TOKEN": TOKEN, "NO_COLOR": "1"},
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def commit(self, file: str, old: str, new: str, message: str) -> None:
        edit(self.repo, file, old, new)
        git(self.repo, "commit", "-qam", message)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    """The shipped config in a git repo whose dev environment points at a test gateway."""
    repo = tmp_path / "config"
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, repo / folder)
    with (
        simulator("--ttft", "0", "--tpot", "0", "--tokens", "3") as sim,
        gateway(env={"DEV_APP_API_KEY": DEV_KEY}) as url,
    ):
        edit(repo, "environments/dev/environment.yaml", "http://127.0.0.1:4000", url)
        edit(repo, "environments/dev/models.yaml", "http://127.0.0.1:8101/v1", f"{sim}/v1")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", "initial config")
        yield Setup(repo, url)


def test_apply_from_git_then_plan_is_empty_then_one_edit_is_one_change(setup: Setup) -> None:
    first = setup.cli("plan", "--env", "dev", "--rev", "HEAD", "--detailed-exitcode")
    assert first.returncode == 2
    assert "Plan: 7 to create, 0 to change, 0 to delete." in first.stdout

    applied = setup.cli("apply", "--env", "dev", "--rev", "HEAD", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert "Apply: 7 applied." in applied.stdout

    again = setup.cli("plan", "--env", "dev", "--rev", "HEAD", "--detailed-exitcode")
    assert again.returncode == 0
    assert "No changes." in again.stdout

    setup.commit(
        "environments/dev/routes.yaml",
        "requestsPerMinute: 60",
        "requestsPerMinute: 120",
        "raise the dev rate limit",
    )
    planned = setup.cli(
        "plan", "--env", "dev", "--rev", "HEAD", "--output", "json", "--detailed-exitcode"
    )
    assert planned.returncode == 2
    plan = json.loads(planned.stdout)
    assert [(c["action"], c["kind"], c["name"]) for c in plan["changes"]] == [
        ("update", "Route", "chat")
    ]
    assert [(f["path"], f["old"], f["new"]) for f in plan["changes"][0]["fields"]] == [
        ("spec.rateLimits.requestsPerMinute", 60, 120)
    ]
    # The working tree was not touched by --rev, and the earlier revision still plans as applied.
    assert (
        setup.cli("plan", "--env", "dev", "--rev", "HEAD~1", "--detailed-exitcode").returncode == 0
    )

    assert setup.cli("apply", "--env", "dev", "--auto-approve").returncode == 0
    response = httpx.post(
        f"{setup.gateway}/v1/chat/completions",
        timeout=30,
        json={"model": "chat", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {DEV_KEY}"},  # Consumer/dev-app's, by reference
    )
    assert response.status_code == 200
    assert response.headers["x-controlplane-model"] == "chat-small"
    metrics = httpx.get(f"{setup.gateway}/metrics").text
    assert (
        'llm_gateway_requests_total{model="chat-small",route="chat",status="200",'
        'variant="default"} 1.0'
    ) in metrics


def test_markdown_plan_for_pull_requests(setup: Setup) -> None:
    result = setup.cli("plan", "--env", "dev", "--output", "markdown")
    assert result.returncode == 0
    assert result.stdout.startswith("### controlplane plan: `dev`")
    assert "| + | `Route/chat` | created |" in result.stdout


def test_apply_asks_and_refuses_without_a_terminal(setup: Setup) -> None:
    result = setup.cli("apply", "--env", "dev")
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert setup.cli("plan", "--env", "dev", "--detailed-exitcode").returncode == 2


def test_dry_run_changes_nothing(setup: Setup) -> None:
    result = setup.cli("apply", "--env", "dev", "--dry-run")
    assert result.returncode == 0
    assert "7 would apply" in result.stdout
    assert setup.cli("plan", "--env", "dev", "--detailed-exitcode").returncode == 2


def test_apply_stops_when_live_state_changed_after_the_plan(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(setup.repo)
    monkeypatch.setenv("CONTROLPLANE_GATEWAY_TOKEN", TOKEN)

    def someone_else_writes(question: str) -> bool:
        intrude(setup.gateway)
        return True

    monkeypatch.setattr(apply_command, "confirm", someone_else_writes)
    assert cli.main(["apply", "--env", "dev"]) == 1
    live = httpx.get(
        f"{setup.gateway}/admin/v1/resources", headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()
    assert [r["name"] for r in live["resources"]] == ["intruder"]  # nothing of ours applied


def test_the_engine_refuses_a_plan_whose_live_state_moved(setup: Setup) -> None:
    """The check is in the apply path itself, so `serve` has it as well as the CLI."""
    desired = validate_config(engine.load(setup.repo), ["dev"]).states["dev"]
    driver = GatewayDriver("gateway", setup.gateway, TOKEN)
    plan = engine.plan_target(desired, driver)
    intrude(setup.gateway)
    with pytest.raises(StaleLiveState, match="changed since the plan"):
        apply_plan(plan, driver)
    assert [r.name for r in driver.read().resources] == ["intruder"]
    assert apply_plan(engine.plan_target(desired, driver), driver).ok  # a fresh plan applies


def intrude(gateway: str) -> None:
    """Someone else writes to the gateway."""
    model = {
        "apiVersion": "controlplane.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "intruder"},
        "spec": {
            "baseModel": "x",
            "framework": "external-api",
            "endpoint": "https://example.com/v1",
        },
    }
    httpx.put(
        f"{gateway}/admin/v1/resources/Model/intruder",
        json=model,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()


class FailingOnce(GatewayDriver):
    """The real driver, except that one change fails as if the gateway had gone away."""

    def __init__(self, url: str, fail_at: str) -> None:
        super().__init__("gateway", url, TOKEN, retries=0)
        self.fail_at = fail_at

    def apply(self, change: Change) -> None:
        if change.ref == self.fail_at:
            raise TargetUnavailable("simulated outage")
        super().apply(change)


def test_a_failure_part_way_is_reported_per_change_and_completed_next_time(
    setup: Setup,
) -> None:
    desired = validate_config(engine.load(setup.repo), ["dev"]).states["dev"]
    flaky = FailingOnce(setup.gateway, fail_at="Guardrail/pii-redact")
    result = apply_plan(compute_plan(desired, flaky.read()), flaky)
    assert [(r.change.ref, r.outcome) for r in result.results] == [
        ("Model/chat-small", Outcome.APPLIED),
        ("Model/gpt-4o-mini", Outcome.APPLIED),
        ("Guardrail/pii-output", Outcome.APPLIED),
        ("Guardrail/pii-redact", Outcome.FAILED),
        ("Guardrail/prompt-injection", Outcome.NOT_ATTEMPTED),
        ("Route/chat", Outcome.NOT_ATTEMPTED),
        ("Consumer/dev-app", Outcome.NOT_ATTEMPTED),
    ]
    assert not result.ok
    driver = GatewayDriver("gateway", setup.gateway, TOKEN)
    rest = compute_plan(desired, driver.read())
    assert [c.ref for c in rest.changes] == [
        "Guardrail/pii-redact",
        "Guardrail/prompt-injection",
        "Route/chat",
        "Consumer/dev-app",
    ]
    assert apply_plan(rest, driver).ok
    assert compute_plan(desired, driver.read()).empty


def test_a_lost_answer_is_retried_safely(setup: Setup) -> None:
    desired = validate_config(engine.load(setup.repo), ["dev"]).states["dev"]
    driver = GatewayDriver("gateway", setup.gateway, TOKEN)
    plan = compute_plan(desired, driver.read())
    assert apply_plan(plan, driver).ok
    for change in plan.changes:  # every answer lost, every write sent again: already there
        driver.apply(change)
    assert compute_plan(desired, driver.read()).empty


def test_gateway_down_is_a_clear_error_after_retries(setup: Setup) -> None:
    edit(
        setup.repo,
        "environments/dev/environment.yaml",
        setup.gateway,
        f"http://127.0.0.1:{free_port()}",
    )
    result = setup.cli("plan", "--env", "dev")
    assert result.returncode == 1
    assert "gateway 'gateway': ConnectError" in result.stderr
    assert "after 4 retries" in result.stderr


def test_gateway_keeps_its_config_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "gateway.json"
    port = free_port()
    model = {
        "apiVersion": "controlplane.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "m"},
        "spec": {
            "baseModel": "x",
            "framework": "external-api",
            "endpoint": "https://example.com/v1",
        },
    }
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with gateway(port, state) as url:
        httpx.put(f"{url}/admin/v1/resources/Model/m", json=model, headers=auth)
    with gateway(port, state) as url:
        live = httpx.get(f"{url}/admin/v1/resources", headers=auth).json()
    assert [r["name"] for r in live["resources"]] == ["m"]
    assert live["version"] == 1


def test_a_canary_percent_edit_in_git_plans_as_exactly_that_change(setup: Setup) -> None:
    # Prod's self-hosted models live on GPU pools; the gateway holds their records all the same.
    setup.commit(
        "environments/prod/environment.yaml",
        "https://llm-gateway.prod.example.com",
        setup.gateway,
        "point prod at the test gateway",
    )
    assert setup.cli("apply", "--env", "prod", "--rev", "HEAD", "--auto-approve").returncode == 0
    setup.commit(
        "environments/prod/routes.yaml", "percent: 10", "percent: 25", "canary chat-v2 to 25%"
    )
    result = setup.cli("plan", "--env", "prod", "--rev", "HEAD", "--detailed-exitcode")
    assert result.returncode == 2
    assert "Plan: 0 to create, 1 to change, 0 to delete." in result.stdout
    changed = [
        line.strip() for line in result.stdout.splitlines() if line.strip()[:1] in ("+", "~", "-")
    ]
    assert changed == ["~ Route/chat", "~ spec.canary.percent: 10 → 25"]
