"""The rollback scenario, shared by the end-to-end test and the benchmark.

A real `controlplane serve` on a bare origin applies a stable commit and then a canary commit to a
real gateway; Prometheus is backfilled with a TTFT history whose p99 breaks 500 ms a few seconds
after the canary went live; the forge stand-in (labelled: not GitHub) serves pull requests over
the same bare origin and sends a signed webhook on merge.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.config import edit
from tests.support.processes import free_port, git, running
from tests.support.prometheus import History, prometheus
from tests.support.service import SECRET, Service, wait_for

FORGE_TOKEN = "test-forge-token"
POLICY = "chat-latency"
BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, float("inf"))
POLICY_YAML = """\
# yaml-language-server: $schema=../schemas/slopolicy.json
# TTFT p99 of dev's chat route under 500 ms; a breach opens a rollback pull request.
apiVersion: controlplane.dev/v1alpha1
kind: SLOPolicy
metadata:
  name: chat-latency
spec:
  selector: {{environments: [dev], routes: [chat]}}
  interval: {interval}
  failAfter: {fail_after}
  remediation: {{strategy: revert, cooldown: 1h}}
  guards:
    - {{name: ttft-p99, metric: ttft, quantile: 0.99, threshold: 500ms, for: 1m, minSamples: 20}}
"""
CANARY_MODEL = """
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata:
  name: chat-canary
spec:
  baseModel: meta-llama/Llama-3.1-8B-Instruct
  parameterCount: 8B
  quantization: bf16
  framework: openai-compatible
  endpoint: http://127.0.0.1:8109/v1
"""


@dataclass
class Scenario:
    service: Service
    forge_url: str
    prometheus_port: int
    stable_sha: str = ""
    canary_sha: str = ""
    canary_applied: datetime | None = None

    def forge(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = httpx.request(
            method,
            f"{self.forge_url}/repos/local/config{path}",
            headers={"Authorization": f"Bearer {FORGE_TOKEN}"},
            timeout=15,
            **kwargs,
        )
        response.raise_for_status()
        return response

    def pulls(self, state: str = "all") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.forge("GET", "/pulls", params={"state": state}).json()
        return found

    def origin_branches(self) -> dict[str, str]:
        listed = git(self.service.origin, "for-each-ref", "--format=%(refname:short) %(objectname)")
        return dict(line.split() for line in listed.splitlines())

    def backfill(self, onset: datetime, before: float = 900, after: float = 600) -> History:
        """TTFT on route chat every 5 s: all fast until `onset`, then 20% at 1.2 s (p99 breaks
        500 ms). Runs into the future so evaluations in the next minutes still see it."""
        history = History()
        start, end, now = onset.timestamp() - before, onset.timestamp() + after, onset.timestamp()
        counts = dict.fromkeys(BUCKETS, 0.0)
        total, t = 0.0, start
        while t <= end:
            slow = 2 if t >= now else 0
            for bound in BUCKETS:
                counts[bound] += (10 - slow) * (bound >= 0.1) + slow * (bound >= 1.5)
            total += 10
            history.histogram(
                "llm_gateway_time_to_first_token_seconds",
                {"route": "chat", "variant": "stable", "model": "chat-small"},
                t,
                dict(counts),
                total,
            )
            t += 5
        return history


def wait_applied(service: Service, sha: str) -> datetime:
    """When the apply of `sha` started, once it is live."""
    wait_for(f"{sha[:12]} live", service.synced_at(sha), timeout=60)
    for attempt in service.api("/environments/dev/history")["attempts"]:
        if attempt["commit"] == sha and attempt["result"] in ("applied", "in-sync"):
            return datetime.fromisoformat(attempt["startedAt"])
    raise AssertionError(f"no applied attempt of {sha[:12]}")


@contextmanager
def rollback_scenario(
    service: Service, tmp: Path, interval: str = "2s", fail_after: int = 2
) -> Iterator[Scenario]:
    """Serve running with forge and Prometheus configured, the canary commit applied; yields
    before Prometheus starts (see `breach`)."""
    with ExitStack() as stack:
        forge_port, prometheus_port = free_port(), free_port()
        service.stop()
        forge_url = stack.enter_context(
            running(
                [
                    "forge-standin",
                    "--repo",
                    str(service.origin),
                    "--token",
                    "env:FORGE_TOKEN",
                    "--webhook-url",
                    f"{service.url}/webhooks/git",
                    "--webhook-secret",
                    "env:TEST_WEBHOOK_SECRET",
                ],
                forge_port,
                {"FORGE_TOKEN": FORGE_TOKEN, "TEST_WEBHOOK_SECRET": SECRET},
                tmp / "forge.log",
            )
        )
        work = service.work
        edit(
            work,
            "environments/dev/environment.yaml",
            "    url: http://127.0.0.1:9090\n",
            f"    url: http://127.0.0.1:{prometheus_port}\n"
            f"  forge:\n    type: github\n    url: {forge_url}\n    repository: local/config\n"
            "    token: env:FORGE_TOKEN\n    reviewers: [oncall]\n",
        )
        (work / "policies/chat-latency.yaml").write_text(
            POLICY_YAML.format(interval=interval, fail_after=fail_after)
        )
        git(work, "add", ".")
        git(work, "commit", "-qm", "Watch dev's chat TTFT; rollback PRs to the forge")
        git(work, "push", "-q", "origin", "main")
        scenario = Scenario(service, forge_url, prometheus_port)
        scenario.stable_sha = git(work, "rev-parse", "HEAD")
        service.env = {"FORGE_TOKEN": FORGE_TOKEN}
        service.start()
        service.webhook()
        wait_applied(service, scenario.stable_sha)
        add_canary(work, "  canary: {model: chat-canary, percent: 20}\n")
        git(work, "commit", "-qam", "Canary chat-canary at 20% on chat")
        git(work, "push", "-q", "origin", "main")
        scenario.canary_sha = git(work, "rev-parse", "HEAD")
        service.webhook()
        scenario.canary_applied = wait_applied(service, scenario.canary_sha)
        yield scenario


@contextmanager
def breach(scenario: Scenario, tmp: Path, onset: datetime) -> Iterator[str]:
    """Prometheus on the scenario's port, backfilled with a breach from `onset`."""
    (tmp / "prom").mkdir()
    with prometheus(tmp / "prom", scenario.backfill(onset), scenario.prometheus_port) as url:
        yield url


def add_canary(work: Path, canary: str) -> None:
    """Model chat-canary, and route chat's canary written as the YAML lines `canary`."""
    with (work / "environments/dev/models.yaml").open("a") as models:
        models.write(CANARY_MODEL)
    edit(
        work,
        "environments/dev/routes.yaml",
        "  model: chat-small\n",
        "  model: chat-small\n" + canary,
    )


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    return subprocess.run(
        [sys.executable, "-m", "controlplane", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
