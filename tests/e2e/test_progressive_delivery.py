"""End to end: a canary goes 10 → 50 → 100 → the route's model through promotion pull requests,
each merged on the forge and applied to the real gateway; and a regression at 50 becomes a
rollback pull request, holds the live canary at 0 at once, marks the open promotion stale and
opens no promotion while it is open.

Real git origin, gateway, Prometheus (backfilled by promtool) and forge stand-in (labelled: not
GitHub). The reconciler and the policy runner run in the test's process on an injected clock, so
an hour of rollout takes seconds: the clock walks through a history Prometheus already holds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from controlplane.engine import Promoter, Rollbacker
from controlplane.history import SqlHistory, Trigger
from controlplane.policy import Outcome
from controlplane.prometheus import BatchingSource, PrometheusClient
from controlplane.repo import GitMirror
from controlplane.rollback.decision import Decision
from controlplane.service.api import create_api
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.policies import PolicyRunner
from controlplane.service.reconciler import Reconciler
from tests.support.config import REPO, edit
from tests.support.processes import TOKEN, free_port, gateway, git, running, simulator
from tests.support.prometheus import History, prometheus
from tests.support.receiver import Receiver, receiver
from tests.support.rollback_scenario import CANARY_MODEL
from tests.support.service import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
FORGE_TOKEN = "test-forge-token"
T0 = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
PER_MINUTE = 400
BOUNDS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, float("inf"))
HEALTHY = (0.10, 0.45, 0.80, 0.92, 0.98, 0.995, 1.0, 1.0)  # cumulative shares per bucket
SLOW = (0.0, 0.02, 0.10, 0.30, 0.60, 0.90, 0.99, 1.0)
POLICY = """\
apiVersion: controlplane.dev/v1alpha1
kind: CanaryAnalysis
metadata:
  name: chat-canary
spec:
  selector: {environments: [dev], routes: [chat]}
  interval: 1m
  failAfter: 1
  minSamplesPerArm: 200
  alpha: 0.05
  maxLooks: 60
  latency:
    - {metric: ttft, allowedIncreasePercent: 20, criticalIncreasePercent: 40}
  remediation: {strategy: patch, cooldown: 30m, immediate: true}
"""


Phase = tuple[int, int, float, tuple[float, ...]]


def history(phases: Sequence[Phase]) -> History:
    """Per-minute requests and TTFT of route chat's two arms from T0: each phase is (first
    minute, end minute, canary percent, canary TTFT shares); the baseline stays healthy."""
    h = History()
    rng = np.random.default_rng(17)
    totals = {"stable": 0.0, "canary": 0.0}
    buckets = {arm: np.zeros(len(BOUNDS)) for arm in totals}
    for first, end, percent, canary_shares in phases:
        for minute in range(first, end):
            at = (T0 + timedelta(minutes=minute)).timestamp()
            for arm, model, n, shares in (
                ("stable", "chat-small", round(PER_MINUTE * (1 - percent / 100)), HEALTHY),
                ("canary", "chat-canary", round(PER_MINUTE * percent / 100), canary_shares),
            ):
                buckets[arm] += rng.multinomial(n, np.diff((0.0, *shares)))
                totals[arm] += n
                labels = {"route": "chat", "variant": arm, "model": model}
                h.counter("llm_gateway_requests", {**labels, "status": "200"}, at, totals[arm])
                h.histogram(
                    "llm_gateway_time_to_first_token_seconds",
                    labels,
                    at,
                    dict(zip(BOUNDS, np.cumsum(buckets[arm]).tolist(), strict=True)),
                    totals[arm],
                )
    return h


@dataclass
class Rollout:
    work: Path
    gateway: str
    forge_url: str
    reconciler: Reconciler
    runner: PolicyRunner
    history: SqlHistory
    inbox: Receiver
    now: list[datetime] = field(default_factory=lambda: [T0])

    def notified(self) -> list[tuple[str, str]]:
        """The notifications the receiver got: (event, title)."""
        assert self.reconciler.notifier.flush(15)
        return [(r.json()["event"], r.json()["title"]) for r in self.inbox.requests]

    def at(self, minutes: float) -> None:
        self.now[0] = T0 + timedelta(minutes=minutes)

    def forge(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.forge_url}/repos/local/config{path}",
            headers={"Authorization": f"Bearer {FORGE_TOKEN}"},
            timeout=15,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def pulls(self, label: str, state: str = "open") -> list[dict[str, Any]]:
        return [
            p
            for p in self.forge("GET", "/pulls", params={"state": state})
            if label in {x["name"] for x in p["labels"]}
        ]

    def tick(self) -> None:
        self.runner.run("dev", ["chat-canary"])
        wait_for("reconciles to finish", lambda: not self.reconciler.busy("dev"))

    def sync(self) -> None:
        self.reconciler.reconcile("dev", Trigger.WEBHOOK)

    def merge(self, number: int) -> None:
        self.forge("PUT", f"/pulls/{number}/merge")
        self.sync()

    def route(self) -> dict[str, Any]:
        found = httpx.get(
            f"{self.gateway}/admin/v1/resources/Route/chat",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        ).json()
        spec: dict[str, Any] = found["spec"]
        return spec


def rollout(
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    phases: Sequence[Phase],
    bake: str,
    auto_merge: bool = False,
) -> Callable[[], Iterator[Rollout]]:
    def started() -> Iterator[Rollout]:
        monkeypatch.setenv("FORGE_TOKEN", FORGE_TOKEN)
        monkeypatch.setenv("NOTIFY_KEY", "test-notify-key")
        monkeypatch.setenv("CONTROLPLANE_GATEWAY_TOKEN", TOKEN)
        origin, work = tmp / "origin.git", tmp / "work"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
        git(tmp, "clone", "-q", str(origin), str(work))
        shutil.copytree(REPO / "environments", work / "environments")
        (work / "policies").mkdir()
        (work / "policies/chat-canary.yaml").write_text(POLICY)
        with ExitStack() as stack:
            sim = stack.enter_context(simulator("--ttft", "0", "--tpot", "0", "--tokens", "2"))
            inbox = stack.enter_context(receiver())
            gateway_url = stack.enter_context(gateway(free_port(), tmp / "gateway.json"))
            forge_url = stack.enter_context(
                running(
                    ["forge-standin", "--repo", str(origin), "--token", "env:FORGE_TOKEN"],
                    free_port(),
                    {"FORGE_TOKEN": FORGE_TOKEN},
                    tmp / "forge.log",
                )
            )
            (tmp / "prom").mkdir()
            prometheus_url = stack.enter_context(prometheus(tmp / "prom", history(phases)))
            environment = "environments/dev/environment.yaml"
            edit(work, environment, "http://127.0.0.1:4000", gateway_url)
            edit(work, environment, "selfHeal: true", "selfHeal: false")
            edit(
                work,
                environment,
                "    url: http://127.0.0.1:9090\n",
                f"    url: {prometheus_url}\n  forge:\n    type: github\n    url: {forge_url}\n"
                "    repository: local/config\n    token: env:FORGE_TOKEN\n"
                f"  notifications:\n    - type: webhook\n      url: {inbox.url}/hook\n"
                "      secret: env:NOTIFY_KEY\n"
                "      events: [policy-failed, rollback-pr, promotion-pr]\n",
            )
            edit(work, "environments/dev/models.yaml", "http://127.0.0.1:8101/v1", f"{sim}/v1")
            with (work / "environments/dev/models.yaml").open("a") as models:
                models.write(CANARY_MODEL.replace("http://127.0.0.1:8109/v1", f"{sim}/v1"))
            edit(
                work,
                "environments/dev/routes.yaml",
                "  model: chat-small\n",
                "  model: chat-small\n  canary:\n    model: chat-canary\n    percent: 10\n"
                f"    steps: [10, 50, 100]\n    bakeTime: {bake}\n"
                f"    autoMerge: {'true' if auto_merge else 'false'}\n",
            )
            git(work, "add", ".")
            git(work, "commit", "-qm", "Canary chat-canary at 10% on chat, in steps")
            git(work, "push", "-q", "origin", "main")
            store = SqlHistory(f"sqlite:///{tmp / 'history.db'}")
            mirror = GitMirror(str(origin), tmp / "mirror.git", "main")
            metrics = ControllerMetrics()
            now = [T0]
            reconciler = Reconciler(mirror, store, metrics, ["dev"], clock=lambda: now[0])
            stack.callback(reconciler.shutdown)
            batched = BatchingSource(PrometheusClient(prometheus_url))
            runner = PolicyRunner(
                reconciler,
                store,
                metrics,
                source=lambda _: batched,
                clock=lambda: now[0],
                rollbacker=Rollbacker(mirror, store, tmp / "out", clock=lambda: now[0]),
                promoter=Promoter(mirror, store, tmp / "out"),
            )
            state = Rollout(work, gateway_url, forge_url, reconciler, runner, store, inbox, now)
            state.sync()
            yield state

    return started


def test_a_canary_goes_10_50_100_through_promotion_prs_each_merged_and_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phases = [(0, 16, 10, HEALTHY), (16, 33, 50, HEALTHY), (33, 60, 100, HEALTHY)]
    for r in rollout(tmp_path, monkeypatch, phases, "10m")():
        assert (r.route()["canary"]["model"], r.route()["canary"]["percent"]) == ("chat-canary", 10)

        r.at(8)  # passing, maybe, but not baked: no pull request
        r.tick()
        assert r.pulls("promotion") == []

        r.at(15)
        r.tick()
        [first] = r.pulls("promotion")
        assert first["title"] == "Promote dev/chat: canary chat-canary 10% → 50%"
        body = first["body"]
        assert "passed its analysis in `dev`** at 10%" in body
        assert "**CanaryAnalysis `chat-canary`**, check `canary` on route `chat`: **pass**" in body
        assert "move the canary chat-canary of route chat from 10% to 50%" in body
        assert "spec.canary.percent" in body  # the plan against the live gateway
        assert {label["name"] for label in first["labels"]} == {"promotion", "env:dev"}
        r.tick()  # the next look passes too: the open pull request is not proposed again
        assert len(r.pulls("promotion")) == 1

        r.at(16)
        r.merge(first["number"])
        assert r.route()["canary"]["percent"] == 50

        r.at(32)
        r.tick()
        [second] = r.pulls("promotion")
        assert second["title"] == "Promote dev/chat: canary chat-canary 50% → 100%"
        r.at(33)
        r.merge(second["number"])
        assert r.route()["canary"]["percent"] == 100

        r.at(40)  # no baseline left to compare with, and not baked
        r.tick()
        assert r.pulls("promotion") == []
        r.at(45)
        r.tick()
        [third] = r.pulls("promotion")
        assert third["title"] == "Promote dev/chat: chat-canary becomes the route's model"
        assert "has served all of the route's traffic with no policy failing" in third["body"]
        r.at(46)
        r.merge(third["number"])
        live = r.route()
        assert live["model"] == "chat-canary"
        assert live.get("canary") is None
        routes = (r.work / "environments/dev/routes.yaml").read_text()
        git(r.work, "pull", "-q")
        merged = (r.work / "environments/dev/routes.yaml").read_text()
        assert merged != routes
        assert "model: chat-canary" in merged
        assert "canary:" not in merged
        assert "# yaml-language-server" in merged  # comments kept
        assert [event for event, _ in r.notified()] == ["promotion-pr"] * 3
        r.at(47)
        r.tick()  # the record follows the forge: all three merged, nothing more to propose
        assert r.pulls("promotion") == []
        assert [(p.key, p.status.value) for p in r.history.promotions("dev")] == [
            ("chat/chat-canary/100-model", "merged"),
            ("chat/chat-canary/50-100", "merged"),
            ("chat/chat-canary/10-50", "merged"),
        ]
        api = TestClient(create_api(r.reconciler, "api-token", "webhook-secret"))
        assert api.get("/api/v1/promotions").status_code == 401
        listed = api.get(
            "/api/v1/promotions?environment=dev&kind=canary-step",
            headers={"Authorization": "Bearer api-token"},
        ).json()["promotions"]
        assert [(p["key"], p["status"], p["number"]) for p in listed] == [
            ("chat/chat-canary/100-model", "merged", third["number"]),
            ("chat/chat-canary/50-100", "merged", second["number"]),
            ("chat/chat-canary/10-50", "merged", first["number"]),
        ]


def test_a_regression_at_50_rolls_back_holds_the_canary_and_blocks_promotion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phases = [(0, 16, 10, HEALTHY), (16, 24, 50, HEALTHY), (24, 60, 50, SLOW)]
    for r in rollout(tmp_path, monkeypatch, phases, "5m")():
        r.at(15)
        r.tick()
        [first] = r.pulls("promotion")
        r.at(16)
        r.merge(first["number"])
        r.at(23)  # 7 healthy minutes at 50%: a promotion pull request to 100% opens
        r.tick()
        [waiting] = r.pulls("promotion")
        assert waiting["title"].endswith("50% → 100%")

        r.at(45)  # then 21 slow minutes: a critical failure
        r.tick()
        [rollback] = r.pulls("rollback")
        assert "route `chat`" in rollback["body"]
        assert r.route()["canary"]["percent"] == 0  # held at once, before any merge
        status = r.reconciler.status["dev"]
        assert status.sync.value == "synced", status.message  # held, not drift
        assert [h["route"] for h in status.held] == ["chat"]
        [hold] = r.history.holds("dev")
        assert hold.number == rollback["number"]
        [stale] = r.pulls("promotion")
        assert stale["number"] == waiting["number"]
        assert "stale" in {label["name"] for label in stale["labels"]}
        comments = r.forge("GET", f"/issues/{stale['number']}/comments")
        assert [c["body"].startswith("Stale: rollback pull request") for c in comments] == [True]

        r.at(46)
        r.tick()  # still failing: no second rollback, no promotion, no second stale comment
        assert len(r.pulls("rollback")) == 1
        assert len(r.pulls("promotion")) == 1
        assert len(r.forge("GET", f"/issues/{stale['number']}/comments")) == 1
        # Each reached the receiver once, however many ticks saw it.
        assert sorted(event for event, _ in r.notified()) == [
            "policy-failed",
            "promotion-pr",
            "promotion-pr",
            "rollback-pr",
        ]

        # Even a look that passed now would not be promoted while the rollback is open.
        state = r.runner.live_state("dev")
        assert state is not None
        passed = r.history.evaluations("chat-canary", 1)[0].model_copy(
            update={"outcome": Outcome.PASS}
        )
        assert r.runner.promoter is not None
        [blocked] = r.runner.promoter.canary_steps(
            state, [passed], {"chat": r.now[0] - timedelta(hours=1)}, r.now[0]
        )
        assert blocked.decision is Decision.BLOCKED
        assert f"rollback pull request #{rollback['number']} is open" in blocked.message

        r.forge("PATCH", f"/pulls/{rollback['number']}", json={"state": "closed"})
        r.at(47)
        r.tick()  # closed: the hold is released and git's 50% is live again
        assert r.history.holds("dev") == []
        assert r.route()["canary"]["percent"] == 50
        assert r.reconciler.status["dev"].held == []


def test_auto_merge_merges_the_promotion_through_the_forge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    phases = [(0, 20, 10, HEALTHY)]
    for r in rollout(tmp_path, monkeypatch, phases, "10m", auto_merge=True)():
        r.at(15)
        r.tick()
        assert r.pulls("promotion") == []  # opened and merged at once
        [merged] = r.pulls("promotion", state="closed")
        assert merged["merged_at"] is not None
        assert "Auto-merge is on for this route" in merged["body"]
        r.at(16)
        r.sync()  # the merge reaches the reconciler as any other commit does
        assert r.route()["canary"]["percent"] == 50
