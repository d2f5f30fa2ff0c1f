"""End to end: a breach after a canary commit becomes one rollback PR, whose merge restores the
live route. Real serve, gateway, git origin and Prometheus; the forge is the labelled stand-in."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.processes import TOKEN, git
from tests.support.rollback_scenario import (
    FORGE_TOKEN,
    POLICY,
    breach,
    rollback_scenario,
    run,
)
from tests.support.service import API_TOKEN, Service, service, wait_for

__all__ = ["service"]
pytestmark = pytest.mark.integration


def test_a_breach_after_a_canary_commit_opens_one_rollback_pr_and_its_merge_restores_the_route(
    service: Service, tmp_path: Path
) -> None:
    with rollback_scenario(service, tmp_path) as scenario:
        applied = scenario.canary_applied
        assert applied is not None
        onset = applied + timedelta(seconds=3)
        assert service.live_route()["spec"]["canary"]["percent"] == 20
        with breach(scenario, tmp_path, onset) as prometheus_url:
            wait_for("a rollback PR", lambda: bool(scenario.pulls()), timeout=90)
            time.sleep(6)  # three more failing evaluations at 2 s: still one PR
            pulls = scenario.pulls()
            assert len(pulls) == 1, [p["title"] for p in pulls]
            [pull] = pulls
            sha = scenario.canary_sha
            branch = f"rollback/dev/{POLICY}/{sha[:12]}"
            assert (pull["state"], pull["head"]["ref"], pull["base"]["ref"]) == (
                "open",
                branch,
                "main",
            )
            assert {label["name"] for label in pull["labels"]} == {"rollback", "env:dev"}
            assert [r["login"] for r in pull["requested_reviewers"]] == ["oncall"]

            body = pull["body"]
            assert f"SLOPolicy `{POLICY}` failed in `dev`" in body
            assert "check `guard/ttft-p99` on route `chat`" in body
            row = re.search(r"\| ttft p99 \| ([0-9.]+) \| 0\.5 \| 60s \| (\d+) \|", body)
            assert row, body
            assert float(row.group(1)) > 0.5
            assert int(row.group(2)) >= 20
            assert f"Blamed commit: `{sha}` by Dev <dev@example.com>: Canary chat-canary" in body
            assert f"Applied at: {applied.isoformat()[:19]}" in body
            started = re.search(r"Breach started: (\S+) \(range query", body)
            assert started, body
            breach_at = datetime.fromisoformat(started.group(1))
            # found from the range query: after the canary went live, within a few seconds of
            # the first slow samples
            assert applied <= breach_at <= onset + timedelta(seconds=6), (applied, breach_at)
            assert f"{prometheus_url}/graph?g0.expr=histogram_quantile" in body
            # the plan of what merging changes, against the live gateway
            assert "| ~ | `Route/chat` | `spec.canary`: " in body
            assert "| - | `Model/chat-canary` | deleted |" in body

            # the branch is on origin: a revert of the canary commit, with the trailers
            branches = scenario.origin_branches()
            assert branch in branches
            message = git(service.origin, "log", "-1", "--format=%B", branches[branch])
            assert f"Controlplane-Policy: SLOPolicy/{POLICY}" in message
            assert f"Controlplane-Blamed-Commit: {sha}" in message
            assert "canary" not in git(
                service.origin, "show", f"{branches[branch]}:environments/dev/routes.yaml"
            )
            [opened] = service.api("/rollbacks")["rollbacks"]
            assert (opened["status"], opened["commit"], opened["number"]) == ("opened", sha, 1)

            # dry-run by hand prints the same PR and pushes nothing
            before = scenario.origin_branches()
            dry = run(
                "rollback",
                "--env",
                "dev",
                "--policy",
                POLICY,
                "--dry-run",
                "--repo",
                str(service.origin),
                "--workdir",
                str(service.tmp / "workdir"),
                env={"FORGE_TOKEN": FORGE_TOKEN},
            )
            assert dry.returncode == 0, dry.stdout + dry.stderr
            assert f"# {pull['title']}" in dry.stdout
            assert f"head: `{branch}` → base: `main`" in dry.stdout
            assert "rollback: dry-run: written to" in dry.stdout
            assert scenario.origin_branches() == before
            assert len(scenario.pulls()) == 1

            # merge on the forge: its signed webhook makes serve apply the revert
            accepted = webhooks_accepted(service)
            merged = scenario.forge("PUT", "/pulls/1/merge", json={"merge_method": "merge"})
            merge_sha = merged.json()["sha"]
            wait_for(
                "the canary gone from the live gateway",
                lambda: "canary" not in service.live_route()["spec"],
                timeout=30,
            )
            assert service.live_route()["spec"]["model"] == "chat-small"
            gone = httpx.get(
                f"http://127.0.0.1:{service.gateway_port}/admin/v1/resources/Model/chat-canary",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=10,
            )
            assert gone.status_code == 404  # prune is on in dev
            history = service.api("/environments/dev/history")["attempts"]
            assert (history[0]["commit"], history[0]["result"]) == (merge_sha, "applied")
            assert webhooks_accepted(service) == accepted + 1  # the stand-in's signed push
            time.sleep(5)  # still failing (the backfill goes on): the cooldown holds
            assert len(scenario.pulls()) == 1


def webhooks_accepted(service: Service) -> float:
    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    found = re.search(r'controlplane_webhook_deliveries_total\{result="accepted"\} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


def test_the_api_lists_rollbacks_only_with_its_token(service: Service) -> None:
    response = httpx.get(f"{service.url}/api/v1/rollbacks", timeout=10)
    assert response.status_code == 401
    response = httpx.get(
        f"{service.url}/api/v1/rollbacks",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    )
    assert response.json() == {"rollbacks": []}
