"""Canary analysis end to end on a stand-in metric source: evidence from the canary's start, the
three verdicts, critical failures, looks, the analysis horizon, and what a canary's identity is."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from controlplane.errors import MetricsUnavailable
from controlplane.policy import Outcome
from controlplane.policy.canary import canary_identity, evaluate_canary
from controlplane.policy.dialects import GATEWAY
from controlplane.policy.source import MinuteValues
from controlplane.spec import DesiredState, Environment, Model, Route
from controlplane.spec.policy import CanaryAnalysis

Array = npt.NDArray[np.float64]
START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
V = "controlplane.dev/v1alpha1"


def doc(kind: type[Any], name: str, spec: dict[str, Any]) -> Any:
    return kind.model_validate(
        {"apiVersion": V, "kind": kind.KIND, "metadata": {"name": name}, "spec": spec}
    )


def policy(**spec: Any) -> CanaryAnalysis:
    base: dict[str, Any] = {
        "minSamplesPerArm": 200,
        "alpha": 0.05,
        "latency": [
            {"metric": "ttft", "allowedIncreasePercent": 10, "criticalIncreasePercent": 40}
        ],
    }
    return doc(CanaryAnalysis, "canary", {**base, **spec})  # type: ignore[no-any-return]


class Arms:
    """Stand-in for Prometheus: per-minute counts of both arms, answered as the increments
    queries would be (buckets cumulative by `le`), minute 0 being the one that ends at START."""

    def __init__(
        self,
        rng: np.random.Generator,
        per_minute: float,
        ttft_factor: float = 1.0,
        errors: tuple[float, float] = (0.0, 0.0),
        minutes: int = 70,
    ) -> None:
        bounds = GATEWAY.buckets["ttft"]
        self.asked: list[tuple[datetime, datetime]] = []
        self.requests: dict[str, Array] = {}
        self.errors: dict[str, Array] = {}
        self.buckets: dict[str, Array] = {}
        for arm, rate, factor, error in (
            ("canary", per_minute, ttft_factor, errors[0]),
            ("default", per_minute * 9, 1.0, errors[1]),
        ):
            n = rng.poisson(rate, minutes)
            cdf = stats.norm.cdf((np.log(bounds) - np.log(0.35 * factor)) / 0.5)
            shares = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
            counts = np.array([rng.multinomial(k, shares) for k in n], dtype=float)
            self.requests[arm] = n.astype(float)
            self.errors[arm] = rng.binomial(n, error).astype(float)
            self.buckets[arm] = np.cumsum(counts, axis=1)

    def expect(self, routes: Collection[str]) -> None:
        pass

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        self.asked.append((first, last))
        i = round((first - START).total_seconds() / 60)
        j = round((last - START).total_seconds() / 60) + 1
        if "_bucket" in query:
            bounds = [*GATEWAY.buckets["ttft"], float("inf")]
            return {
                (arm, "+Inf" if b == float("inf") else repr(b)): values[i:j, k]
                for arm, values in self.buckets.items()
                for k, b in enumerate(bounds)
            }
        source = self.errors if "status" in query else self.requests
        return {(arm,): values[i:j] for arm, values in source.items()}

    def scalar(self, query: str, at: datetime) -> float | None:
        raise AssertionError("canary analysis asks per minute")

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        raise AssertionError("canary analysis asks per minute")


def judge(
    source: Any, at_minutes: float, spec: CanaryAnalysis | None = None, started: bool = True
) -> Any:
    at = START + timedelta(minutes=at_minutes, seconds=35)
    return evaluate_canary(
        spec or policy(), GATEWAY, source, "prod", "chat", at, START if started else None
    )


def test_too_few_requests_say_when_there_will_be_enough() -> None:
    source = Arms(np.random.default_rng(1), per_minute=5)
    result = judge(source, 10)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "fewer than 200 per arm" in result.reason
    # about 50 canary requests in 10 minutes, 5 a minute: 150 more take about 30 minutes
    assert "enough in about" in result.reason
    minutes = int(result.reason.split("enough in about ")[1].split("m")[0])
    assert 20 <= minutes <= 45


def test_evidence_is_every_whole_minute_since_the_start() -> None:
    source = Arms(np.random.default_rng(1), per_minute=30)
    judge(source, 7)
    assert source.asked[0] == (START + timedelta(minutes=1), START + timedelta(minutes=7))


def test_the_first_minute_must_be_over() -> None:
    result = evaluate_canary(
        policy(), GATEWAY, Arms(np.random.default_rng(1), 30), "prod", "chat", START, START
    )
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "first whole minute" in result.reason


def test_a_slow_canary_fails_and_past_the_critical_increase_fails_critically() -> None:
    slower = judge(Arms(np.random.default_rng(2), 160, ttft_factor=1.2), 20)
    assert slower.outcome is Outcome.FAIL
    assert not slower.critical
    assert "shown worse than +10%" in slower.reason
    assert "look 20/60" in slower.reason
    much = judge(Arms(np.random.default_rng(2), 160, ttft_factor=2.0), 20)
    assert much.outcome is Outcome.FAIL
    assert much.critical
    assert "the critical increase" in much.reason


def test_a_healthy_canary_passes_once_shown_within_the_allowed_increase() -> None:
    result = judge(Arms(np.random.default_rng(3), 160), 30)
    assert result.outcome is Outcome.PASS
    assert "shown within +10%" in result.reason
    median = next(e for e in result.evidence if e.name.startswith("ttft"))
    assert abs(median.value or 0) < 5


def test_a_canary_neither_shown_worse_nor_within_is_inconclusive() -> None:
    result = judge(Arms(np.random.default_rng(4), 25, ttft_factor=1.10), 15)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "not yet shown either way" in result.reason


def test_errors_are_judged_exactly_against_the_allowed_points() -> None:
    spec = policy(latency=[], errors={"allowedIncreasePoints": 0.2, "criticalIncreasePoints": 5})
    worse = judge(Arms(np.random.default_rng(5), 160, errors=(0.012, 0.002)), 20, spec)
    assert worse.outcome is Outcome.FAIL
    assert not worse.critical
    evidence = next(e for e in worse.evidence if e.name.startswith("error ratio"))
    assert evidence.value == pytest.approx(1.0, abs=0.5)
    assert "exact test by minute" in evidence.note
    same = judge(Arms(np.random.default_rng(5), 160, errors=(0.002, 0.002)), 20, spec)
    assert same.outcome is not Outcome.FAIL


def test_without_a_start_one_fixed_test_covers_the_horizon() -> None:
    source = Arms(np.random.default_rng(6), 160, ttft_factor=1.3)
    result = judge(source, 65, started=False)
    assert result.outcome is Outcome.FAIL
    assert "one fixed test" in result.reason
    first, last = source.asked[0]
    # the horizon, 60 looks of 1 minute, without the partial minute it began in
    assert last - first == timedelta(minutes=58)


def test_after_the_horizon_no_alpha_is_left() -> None:
    spec = policy(maxLooks=10)
    result = judge(Arms(np.random.default_rng(6), 20, ttft_factor=1.12), 15, spec)
    assert result.outcome is not Outcome.FAIL
    assert "analysis ended after 10 looks" in result.reason


def test_metrics_unavailable_is_inconclusive() -> None:
    class Down(Arms):
        def minutes(
            self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
        ) -> MinuteValues:
            raise MetricsUnavailable("connection refused")

    result = judge(Down(np.random.default_rng(1), 1), 10)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "metrics unavailable" in result.reason


def state(canary_percent: int = 10, adapter: str = "v2", other: str = "a") -> DesiredState:
    environment = doc(
        Environment, "prod", {"targets": [{"type": "gateway", "url": "http://127.0.0.1:9"}]}
    )
    models = (
        doc(Model, "m1", {"baseModel": "b", "framework": "vllm"}),
        doc(
            Model,
            "m2",
            {
                "baseModel": "b",
                "framework": "vllm",
                "adapter": {"name": "chat", "uri": f"s3://models/chat-{adapter}/"},
            },
        ),
        doc(Model, "m3", {"baseModel": f"other-{other}", "framework": "vllm"}),
    )
    routes = (
        doc(Route, "chat", {"model": "m1", "canary": {"model": "m2", "percent": canary_percent}}),
        doc(Route, "other", {"model": "m3"}),
    )
    return DesiredState(environment=environment, models=models, routes=routes)


def test_a_canary_identity_changes_with_its_arms_only() -> None:
    def identity(s: DesiredState) -> str:
        return canary_identity(s, s.routes[0])

    same = identity(state())
    assert identity(state(other="b")) == same  # another route's model changed
    assert identity(state(canary_percent=50)) != same  # a new step
    assert identity(state(adapter="v3")) != same  # the canary model's adapter changed
