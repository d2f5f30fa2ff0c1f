"""Policy evaluation against a real Prometheus holding backfilled, deterministic history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from controlplane.history import SqlHistory
from controlplane.policy import Outcome, evaluate_policy
from controlplane.policy.dialects import GATEWAY
from controlplane.prometheus import PrometheusClient
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.policies import PolicyRunner
from controlplane.service.reconciler import Reconciler
from controlplane.spec import DesiredState, Environment, Route
from controlplane.spec.policy import CanaryAnalysis, CostPolicy, SLOPolicy
from tests.support.config import REPO
from tests.support.processes import free_port
from tests.support.prometheus import History, prometheus

pytestmark = pytest.mark.integration
END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STEP = 60
BOUNDS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, float("inf"))
BASELINE = (0.10, 0.45, 0.80, 0.92, 0.98, 0.995, 1.0)  # cumulative shares per bucket
SLOWER = (0.02, 0.10, 0.35, 0.70, 0.92, 0.99, 1.0)
V = "controlplane.dev/v1alpha1"


def doc(kind: type[Any], name: str, spec: dict[str, Any]) -> Any:
    return kind.model_validate(
        {"apiVersion": V, "kind": kind.KIND, "metadata": {"name": name}, "spec": spec}
    )


def requests(
    h: History,
    route: str,
    variant: str,
    start: datetime,
    minutes: int,
    per_minute: int,
    error_ratio: Any,
) -> None:
    ok = bad = 0.0
    for i in range(minutes + 1):
        at = start + timedelta(seconds=i * STEP)
        ratio = error_ratio(at)
        ok += per_minute * (1 - ratio)
        bad += per_minute * ratio
        labels = {"route": route, "variant": variant, "model": f"{route}-{variant}"}
        h.counter("llm_gateway_requests", {**labels, "status": "200"}, at.timestamp(), round(ok))
        h.counter("llm_gateway_requests", {**labels, "status": "500"}, at.timestamp(), round(bad))


def latencies(
    h: History,
    route: str,
    variant: str,
    shares: tuple[float, ...],
    seed: int,
    per_minute: int = 100,
    minutes: int = 30,
) -> None:
    rng = np.random.default_rng(seed)
    probabilities = np.diff((0.0, *shares))
    counts = np.zeros(len(BOUNDS))
    start = END - timedelta(minutes=minutes)
    for i in range(minutes + 1):
        counts += rng.multinomial(per_minute, probabilities)
        cumulative = dict(zip(BOUNDS, np.cumsum(counts).tolist(), strict=True))
        h.histogram(
            "llm_gateway_time_to_first_token_seconds",
            {"route": route, "variant": variant, "model": f"{route}-{variant}"},
            (start + timedelta(minutes=i)).timestamp(),
            cumulative,
            float(counts.sum()),
        )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusClient]:
    h = History()
    seven_hours = END - timedelta(hours=7)
    requests(
        h,
        "paging",
        "default",
        seven_hours,
        420,
        200,
        lambda at: 0.05 if at > END - timedelta(hours=1) else 0.001,
    )
    requests(
        h,
        "blip",
        "default",
        seven_hours,
        420,
        200,
        lambda at: 0.05 if at > END - timedelta(minutes=5) else 0.001,
    )
    requests(h, "quiet", "default", seven_hours, 420, 1, lambda at: 0.0)
    for route, canary_shares in (("canary-slow", SLOWER), ("canary-same", BASELINE)):
        latencies(h, route, "default", BASELINE, seed=1)
        latencies(h, route, "canary", canary_shares, seed=2)
        requests(h, route, "default", END - timedelta(minutes=30), 30, 100, lambda at: 0.01)
        requests(h, route, "canary", END - timedelta(minutes=30), 30, 100, lambda at: 0.01)
    for minute in range(61):  # the canary costs twice as much per request
        second = (END - timedelta(minutes=60 - minute)).timestamp()
        for variant, usd in (("default", 0.001), ("canary", 0.002)):
            labels = {"route": "pricey", "variant": variant, "model": f"pricey-{variant}"}
            h.counter("llm_gateway_cost_usd", labels, second, usd * 100 * minute)
            h.counter("llm_gateway_requests", {**labels, "status": "200"}, second, 100 * minute)
    for route, canary_down in (("liked", 0.10), ("disliked", 0.30)):  # thumbs, 60 a minute
        requests(h, route, "default", END - timedelta(minutes=30), 30, 300, lambda at: 0.0)
        requests(h, route, "canary", END - timedelta(minutes=30), 30, 300, lambda at: 0.0)
        for variant, down in (("default", 0.10), ("canary", canary_down)):
            labels = {"route": route, "variant": variant, "model": f"{route}-{variant}"}
            for i in range(31):
                second = (END - timedelta(minutes=30 - i)).timestamp()
                for rating, share in (("down", down), ("up", 1 - down)):
                    count = round(60 * share * i)
                    h.counter("llm_gateway_feedback", {**labels, "rating": rating}, second, count)
    midnight = END.replace(hour=0)
    for i in range(12 * 60 + 1):  # $800 spent evenly by noon: on course for $1,600 a day
        at = midnight + timedelta(minutes=i)
        h.counter(
            "llm_gateway_cost_usd",
            {"route": "spendy", "variant": "default", "model": "m"},
            at.timestamp(),
            800 * i / (12 * 60),
        )
    with prometheus(tmp_path_factory.mktemp("prometheus"), h) as url:
        yield PrometheusClient(url)


def state(*routes: str, canary: bool = False) -> DesiredState:
    env = doc(Environment, "prod", {"targets": [{"type": "gateway", "url": "http://x"}]})
    spec: dict[str, Any] = {"model": "m"}
    if canary:
        spec["canary"] = {"model": "m2", "percent": 50}
    return DesiredState(environment=env, routes=tuple(doc(Route, r, spec) for r in routes))


SLO = doc(
    SLOPolicy,
    "availability",
    {
        "objectives": [
            {"name": "errors", "sli": {"type": "errors"}, "target": 99.9, "minEvents": 100}
        ]
    },
)


def test_a_burn_rate_breach_pages(source: PrometheusClient) -> None:
    [result] = evaluate_policy(SLO, state("paging"), GATEWAY, source, END)
    assert result.outcome is Outcome.FAIL, result
    assert "1h/5m at 14.4x: burning at" in result.reason
    one_hour = next(e for e in result.evidence if e.window == "1h")
    assert one_hour.value == pytest.approx(50, rel=0.1)  # 5 % errors / 0.1 % budget
    assert one_hour.samples == pytest.approx(12_000, rel=0.05)


def test_a_short_window_only_spike_does_not_page(source: PrometheusClient) -> None:
    [result] = evaluate_policy(SLO, state("blip"), GATEWAY, source, END)
    assert result.outcome is Outcome.PASS, result
    five_minutes = next(e for e in result.evidence if e.window == "5m")
    assert five_minutes.value is not None
    assert five_minutes.value > 14.4  # the short window alone burns fast


def test_low_traffic_is_inconclusive(source: PrometheusClient) -> None:
    [result] = evaluate_policy(SLO, state("quiet"), GATEWAY, source, END)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "too few events" in result.reason


def test_prometheus_unreachable_is_inconclusive() -> None:
    dead = PrometheusClient(f"http://127.0.0.1:{free_port()}", timeout=2)
    results = evaluate_policy(SLO, state("paging"), GATEWAY, dead, END)
    assert [r.outcome for r in results] == [Outcome.INCONCLUSIVE]
    assert "metrics unavailable" in results[0].reason


CANARY = doc(
    CanaryAnalysis,
    "canary",
    {
        "minSamplesPerArm": 200,
        "alpha": 0.05,
        "maxLooks": 60,
        "latency": [
            {"metric": "ttft", "allowedIncreasePercent": 10, "criticalIncreasePercent": 25}
        ],
        "errors": {"allowedIncreasePoints": 1, "criticalIncreasePoints": 2},
    },
)
# The canaries went live half an hour before END; judged 35 s after it, as `serve` would.
CANARY_START = END - timedelta(minutes=30)
STARTS = {"canary-slow": CANARY_START, "canary-same": CANARY_START}
AFTER_END = END + timedelta(seconds=35)


def test_a_slower_canary_fails(source: PrometheusClient) -> None:
    [result] = evaluate_policy(
        CANARY, state("canary-slow", canary=True), GATEWAY, source, AFTER_END, STARTS
    )
    assert result.outcome is Outcome.FAIL, result
    assert result.critical  # about +50%, past the critical +25%
    assert "look 30/60" in result.reason
    requests, latency, errors = result.evidence
    # 30 whole minutes since the start, 100 requests a minute in each arm, counted exactly
    assert requests.value == 3000
    assert requests.samples == 6000
    assert latency.samples == 6000
    assert latency.value is not None
    assert latency.value > 25
    assert errors.value == pytest.approx(0, abs=0.5)


def test_a_canary_that_differs_only_by_noise_passes(source: PrometheusClient) -> None:
    [result] = evaluate_policy(
        CANARY, state("canary-same", canary=True), GATEWAY, source, AFTER_END
    )
    assert result.outcome is Outcome.PASS, result
    assert "one fixed test" in result.reason


def test_too_little_canary_traffic_is_inconclusive(source: PrometheusClient) -> None:
    # 3,000 requests per arm since the start: fewer than this policy wants.
    strict = CANARY.model_copy(
        update={"spec": CANARY.spec.model_copy(update={"min_samples_per_arm": 5000})}
    )
    [result] = evaluate_policy(
        strict, state("canary-slow", canary=True), GATEWAY, source, AFTER_END, STARTS
    )
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "fewer than 5000 per arm" in result.reason
    assert "enough in about 20m at the current rate" in result.reason  # 2,000 more at 100/min


def test_a_forecast_over_budget_fails_and_spend_alone_does_not(source: PrometheusClient) -> None:
    policy = doc(
        CostPolicy,
        "cost",
        {
            "budgets": [
                {
                    "name": "with-forecast",
                    "scope": {"type": "route", "name": "spendy"},
                    "period": "day",
                    "limitUsd": 1500,
                    "forecast": True,
                    "thresholds": [{"percent": 100, "action": "rollback"}],
                },
                {
                    "name": "spend-only",
                    "scope": {"type": "route", "name": "spendy"},
                    "period": "day",
                    "limitUsd": 1500,
                    "thresholds": [
                        {"percent": 50, "action": "notify"},
                        {"percent": 100, "action": "rollback"},
                    ],
                },
            ]
        },
    )
    forecast, spend = evaluate_policy(policy, state("spendy"), GATEWAY, source, END)
    assert forecast.outcome is Outcome.FAIL, forecast
    assert "forecast" in forecast.reason
    assert forecast.evidence[0].value == pytest.approx(800, rel=0.02)
    assert forecast.evidence[1].value == pytest.approx(1600, rel=0.02)
    assert spend.outcome is Outcome.PASS
    assert "spend past 50% (notify)" in spend.reason


def test_evaluate_command_prints_results_with_evidence(source: PrometheusClient) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane",
            "evaluate",
            "--env",
            "prod",
            "--prometheus",
            source.url,
            "--at",
            END.isoformat(),
            "--output",
            "json",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    # The shipped prod policies, for route chat, which this history has no traffic for.
    assert {(r["policy"], r["check"]) for r in results} >= {
        ("chat-slo", "objective/availability"),
        ("chat-slo", "guard/ttft-p50"),
        ("chat-cost", "budget/search-monthly"),
        ("chat-canary", "canary"),
    }
    assert {r["outcome"] for r in results} == {"inconclusive"}
    text = subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane",
            "evaluate",
            "--env",
            "prod",
            "--prometheus",
            source.url,
            "--at",
            str(END.timestamp()),
            "--policy",
            "chat-slo",
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert text.returncode == 0, text.stderr
    assert "INCONCLUSIVE SLOPolicy/chat-slo objective/availability [prod/chat]" in text.stdout
    assert "burn rate over 1h: no data (threshold 14.4)" in text.stdout


def test_the_runner_stores_results_and_fails_only_after_n_in_a_row(
    source: PrometheusClient, tmp_path: Path
) -> None:
    history, metrics = SqlHistory(f"sqlite:///{tmp_path / 'h.db'}"), ControllerMetrics()
    runner = PolicyRunner(
        cast(Reconciler, None),
        history,
        metrics,
        source=lambda environment: source,
        clock=lambda: END,
    )
    env = doc(
        Environment,
        "prod",
        {"targets": [{"type": "gateway", "url": "http://x"}], "prometheus": {"url": source.url}},
    )
    paging = DesiredState(environment=env, routes=(doc(Route, "paging", {"model": "m"}),))
    policy = SLO.model_copy(update={"spec": SLO.spec.model_copy(update={"fail_after": 3})})
    failing = []
    for _ in range(3):
        [result] = runner._run(paging, [policy])
        assert result.outcome is Outcome.FAIL
        failing.append(runner.failing(policy, result))
    assert failing == [False, False, True]
    stored = history.evaluations("availability")
    assert [r.outcome for r in stored] == [Outcome.FAIL] * 3
    assert stored[0].evidence == result.evidence
    exposed = metrics.registry.get_sample_value(
        "policy_evaluations_total", {"policy": "availability", "result": "fail"}
    )
    assert exposed == 3
    assert (
        metrics.registry.get_sample_value(
            "policy_failing",
            {
                "policy": "availability",
                "check": "objective/errors",
                "environment": "prod",
                "route": "paging",
            },
        )
        == 1
    )


def test_batched_queries_give_the_same_results_with_fewer_queries(
    source: PrometheusClient,
) -> None:
    from controlplane.prometheus import BatchingSource

    routes = ("paging", "blip", "quiet")
    checks = [
        (SLO, state(*routes), END),
        (CANARY, state("canary-slow", "canary-same", canary=True), AFTER_END),
    ]
    plain = PrometheusClient(source.url)
    batched = BatchingSource(PrometheusClient(source.url))
    for policy, desired, at in checks:
        one = evaluate_policy(policy, desired, GATEWAY, plain, at, STARTS)
        other = evaluate_policy(policy, desired, GATEWAY, batched, at, STARTS)
        assert [(r.outcome, r.reason) for r in one] == [(r.outcome, r.reason) for r in other]
        for a, b in zip(one, other, strict=True):
            assert [e.value for e in a.evidence] == pytest.approx([e.value for e in b.evidence])
    assert batched.inner.queries < plain.queries / 2


def test_unit_cost_of_a_canary_against_its_baseline(source: PrometheusClient) -> None:
    policy = doc(
        CostPolicy, "unit", {"unitCost": {"maxUsdPer1KRequests": 5, "canaryMaxIncreasePercent": 25}}
    )
    [result] = evaluate_policy(policy, state("pricey", canary=True), GATEWAY, source, END)
    assert result.outcome is Outcome.FAIL, result
    assert "the canary costs +100% per 1k requests" in result.reason
    values = {e.name: e.value for e in result.evidence}
    assert values["USD per 1k requests"] == pytest.approx(1.5, rel=0.05)
    assert values['USD per 1k requests (variant="canary")'] == pytest.approx(2.0, rel=0.05)
    cheap = doc(CostPolicy, "unit", {"unitCost": {"maxUsdPer1KRequests": 5}})
    [result] = evaluate_policy(cheap, state("pricey"), GATEWAY, source, END)
    assert result.outcome is Outcome.PASS, result


def test_the_runner_judges_a_canary_since_it_went_live_whatever_is_applied_after(
    source: PrometheusClient, tmp_path: Path
) -> None:
    from controlplane.history import AttemptResult, Trigger
    from controlplane.prometheus import BatchingSource

    history, metrics = SqlHistory(f"sqlite:///{tmp_path / 'h.db'}"), ControllerMetrics()
    now = [AFTER_END]
    batched = BatchingSource(PrometheusClient(source.url))
    runner = PolicyRunner(
        cast(Reconciler, None),
        history,
        metrics,
        source=lambda environment: batched,
        clock=lambda: now[0],
    )

    def applied(at: datetime) -> None:
        attempt = history.start("prod", "a" * 40, "a", "m", Trigger.WEBHOOK, at)
        history.finish(attempt, AttemptResult.APPLIED, at)

    desired = state("canary-slow", canary=True)
    twice = CANARY.model_copy(update={"spec": CANARY.spec.model_copy(update={"fail_after": 2})})
    applied(CANARY_START)  # the canary went live
    [first] = runner._run(desired, [twice])
    assert "look 30/60" in first.reason
    # A critical failure counts at once, without waiting for a second failing evaluation.
    assert first.outcome is Outcome.FAIL
    assert first.critical
    assert runner.failing(twice, first)
    applied(END - timedelta(minutes=5))  # an unrelated apply: the evidence does not restart
    queries = batched.inner.queries
    [again] = runner._run(desired, [twice])
    assert "look 30/60" in again.reason
    assert [e.value for e in again.evidence] == [e.value for e in first.evidence]
    assert batched.inner.queries == queries  # every minute was already read
    # A new step of the canary is new evidence, from the apply that put it live (the last one).
    stepped = state("canary-slow", canary=True)
    route = stepped.routes[0]
    canary = route.spec.canary
    assert canary is not None
    moved = route.model_copy(
        update={
            "spec": route.spec.model_copy(
                update={"canary": canary.model_copy(update={"percent": 20})}
            )
        }
    )
    stepped = DesiredState(environment=stepped.environment, routes=(moved,))
    [fresh] = runner._run(stepped, [twice])
    assert "look 5/60" in fresh.reason
    assert fresh.evidence[0].value == 500  # 5 whole minutes of 100 canary requests


def test_a_canary_users_dislike_fails_on_feedback_and_one_they_like_as_much_passes(
    source: PrometheusClient,
) -> None:
    policy = doc(
        CanaryAnalysis,
        "feedback",
        {
            "minSamplesPerArm": 200,
            "feedback": {"allowedIncreasePoints": 5, "criticalIncreasePoints": 10},
        },
    )
    starts = {"liked": CANARY_START, "disliked": CANARY_START}
    [liked] = evaluate_policy(
        policy, state("liked", canary=True), GATEWAY, source, AFTER_END, starts
    )
    [disliked] = evaluate_policy(
        policy, state("disliked", canary=True), GATEWAY, source, AFTER_END, starts
    )
    assert liked.outcome is Outcome.PASS, liked
    assert disliked.outcome is Outcome.FAIL, disliked
    assert disliked.critical  # +20 points, past the critical +10
    thumbs = disliked.evidence[-1]
    assert thumbs.name == "thumbs-down ratio increase (points)"
    assert thumbs.value == pytest.approx(20, abs=1)
    assert "canary 540/1800 ratings" in thumbs.note
    assert 'rating="down"' in thumbs.query
