"""Seeded A/B traffic for experiment tests: per-minute counts of each variant, as the gateway's
counters and histograms would have them, served by a stand-in MetricSource (unit tests) or
written as OpenMetrics for promtool (integration tests)."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from controlplane.policy.dialects import GATEWAY
from controlplane.policy.source import MinuteValues
from tests.support.prometheus import History

Array = npt.NDArray[np.float64]
TTFT_BOUNDS = (*GATEWAY.buckets["ttft"], math.inf)
SCORE_BOUNDS = (*GATEWAY.buckets["score"], math.inf)


@dataclass(frozen=True)
class Truth:
    """How a variant really behaves."""

    per_minute: float = 20.0  # requests
    ttft: float = 0.35  # median seconds (lognormal, sigma 0.5)
    error_ratio: float = 0.005
    thumbs_up: float = 0.70  # of the half of requests that get a thumb
    judge: float = 0.70  # mean score before the 10-point rubric rounds it
    usd: float = 0.001  # per request, on average


@dataclass(frozen=True)
class Counts:
    """One variant's per-minute increments (not cumulative)."""

    ok: Array
    failed: Array
    ttft: Array  # minutes x TTFT_BOUNDS
    ttft_sum: Array
    up: Array
    down: Array
    judge: Array  # minutes x SCORE_BOUNDS
    judge_sum: Array
    cost: Array


def _binned(
    minute: npt.NDArray[np.int64], values: Array, bounds: tuple[float, ...], minutes: int
) -> tuple[Array, Array]:
    bucket = np.searchsorted(np.array(bounds), values, side="left")
    counts = np.bincount(minute * len(bounds) + bucket, minlength=minutes * len(bounds))
    sums = np.bincount(minute, weights=values, minlength=minutes).astype(float)
    return counts.reshape(minutes, len(bounds)).astype(float), sums


def synthesize(truth: Truth, minutes: int, rng: np.random.Generator) -> Counts:
    requests = rng.poisson(truth.per_minute, minutes)
    minute = np.repeat(np.arange(minutes), requests)
    n = int(requests.sum())

    def per_minute(mask: Array) -> Array:
        return np.bincount(minute, weights=mask, minlength=minutes).astype(float)

    failed = (rng.random(n) < truth.error_ratio).astype(float)
    given = rng.random(n) < 0.5
    up = (given & (rng.random(n) < truth.thumbs_up)).astype(float)
    ttft = truth.ttft * np.exp(0.5 * rng.standard_normal(n))
    scores = np.clip(np.round((truth.judge + 0.2 * rng.standard_normal(n)) * 10) / 10, 0, 1)
    ttft_counts, ttft_sums = _binned(minute, ttft, TTFT_BOUNDS, minutes)
    judge_counts, judge_sums = _binned(minute, scores, SCORE_BOUNDS, minutes)
    return Counts(
        ok=per_minute(1 - failed),
        failed=per_minute(failed),
        ttft=ttft_counts,
        ttft_sum=ttft_sums,
        up=per_minute(up),
        down=per_minute(given.astype(float) - up),
        judge=judge_counts,
        judge_sum=judge_sums,
        cost=per_minute(truth.usd * np.exp(0.8 * rng.standard_normal(n) - 0.32)),
    )


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


class ArmsSource:
    """Stand-in for Prometheus answering the experiment's per-minute questions about one
    route: minute i (from 0) is the one that ends at `start` + (i + 1) minutes."""

    def __init__(self, route: str, arms: dict[str, Counts], start: datetime) -> None:
        self.route = route
        self.arms = arms
        self.start = start
        self.asked: list[tuple[str, int]] = []  # (query, minutes asked)

    def scalar(self, query: str, at: datetime) -> float | None:
        raise AssertionError("experiments ask per minute")

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        raise AssertionError("experiments ask per minute")

    def expect(self, routes: Collection[str]) -> None:
        """Nothing to prepare."""

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        assert f'route="{self.route}"' in query, query
        begin = round((first - self.start) / timedelta(minutes=1)) - 1
        count = round((last - first) / timedelta(minutes=1)) + 1
        self.asked.append((query, count))
        found: MinuteValues = {}

        def put(key: tuple[str, ...], values: Array) -> None:
            window = np.zeros(count)
            part = values[max(begin, 0) : begin + count]
            window[max(0, -begin) : max(0, -begin) + len(part)] = part
            found[key] = window

        for variant, c in self.arms.items():
            if f"{variant}" not in query.split('variant=~"')[1].split('"')[0].split("|"):
                continue
            if "_bucket" in query:
                counts = c.judge if "judge" in query else c.ttft
                bounds = SCORE_BOUNDS if "judge" in query else TTFT_BOUNDS
                cumulative = np.cumsum(counts, axis=1)
                for i, bound in enumerate(bounds):
                    put((variant, _le(bound)), cumulative[:, i])
            elif "_sum" in query:
                put((variant,), c.judge_sum if "judge" in query else c.ttft_sum)
            elif "feedback" in query:
                put((variant, "up"), c.up)
                put((variant, "down"), c.down)
            elif "cost" in query:
                put((variant,), c.cost)
            elif "status!~" in query:
                put((variant,), c.failed)
            else:
                put((variant,), c.ok + c.failed)
        return found


def write_history(h: History, route: str, arms: dict[str, Counts], start: datetime) -> None:
    """The arms' counters and histograms as the gateway exports them, a sample a minute from
    `start` (all zero) to the end: cumulative, as Prometheus scrapes them."""
    for variant, c in arms.items():
        minutes = len(c.ok)
        labels = {"route": route, "variant": variant, "model": f"{route}-{variant}"}
        series: list[tuple[str, str, str, dict[str, str], Array]] = [
            ("llm_gateway_requests", "counter", "_total", {"status": "200"}, c.ok),
            ("llm_gateway_requests", "counter", "_total", {"status": "500"}, c.failed),
            ("llm_gateway_cost_usd", "counter", "_total", {}, c.cost),
            ("llm_gateway_feedback", "counter", "_total", {"rating": "up"}, c.up),
            ("llm_gateway_feedback", "counter", "_total", {"rating": "down"}, c.down),
        ]
        for family, counts, total, bounds in (
            ("llm_gateway_time_to_first_token_seconds", c.ttft, c.ttft_sum, TTFT_BOUNDS),
            ("llm_gateway_judge_score", c.judge, c.judge_sum, SCORE_BOUNDS),
        ):
            cumulative = np.cumsum(counts, axis=1)
            for i, bound in enumerate(bounds):
                series.append(
                    (family, "histogram", "_bucket", {"le": _le(bound)}, cumulative[:, i])
                )
            series.append((family, "histogram", "_count", {}, counts.sum(axis=1)))
            series.append((family, "histogram", "_sum", {}, total))
        for family, kind, suffix, extra, values in series:
            running = np.concatenate(([0.0], np.cumsum(values)))
            for i in range(minutes + 1):
                at = (start + timedelta(minutes=i)).timestamp()
                h.add(family, kind, family + suffix, {**labels, **extra}, at, float(running[i]))
