"""Experiments: the confidence sequences hold under repeated looks (where an ordinary interval
does not), known differences are found and no difference is not, the verdict rules, the
evidence read per minute through a stand-in metric source, and what restarts the evidence."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from controlplane.errors import MetricsUnavailable
from controlplane.policy.dialects import GATEWAY, VLLM
from controlplane.policy.experiment import (
    MINUTES_PER_READ,
    Comparison,
    Distribution,
    Estimate,
    Finding,
    PerRequest,
    Proportion,
    Verdict,
    compare,
    confidence_radius,
    decide,
    estimate,
    evaluate_experiment,
    experiment_identity,
    fixed_radius,
    plan_window,
)
from controlplane.policy.source import MinuteValues
from controlplane.spec import DesiredState, Environment, Experiment, Model, Route
from controlplane.spec.experiment import ExperimentMetric
from tests.support.experiments import TTFT_BOUNDS, ArmsSource, Truth, synthesize

START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
V = "controlplane.dev/v1alpha1"
M = ExperimentMetric


def doc(kind: type[Any], name: str, spec: dict[str, Any]) -> Any:
    return kind.model_validate(
        {"apiVersion": V, "kind": kind.KIND, "metadata": {"name": name}, "spec": spec}
    )


def experiment(**spec: Any) -> Experiment:
    base: dict[str, Any] = {
        "route": "chat",
        "variants": ["control", "prompt-v2"],
        "primary": "thumbs-up",
        "guardrails": [{"metric": "ttft", "tolerance": 10}],
        "minSamplesPerGroup": 1000,
        "interval": "1h",
        "maxDuration": "7d",
    }
    return doc(Experiment, "chat-prompt", {**base, **spec})  # type: ignore[no-any-return]


def proportion(hits: float, trials: float) -> Estimate:
    found = estimate(Proportion(np.array([hits]), np.array([trials])))
    assert found is not None
    return found


# --- the confidence sequence under repeated looks ------------------------------------------------


def test_the_thumbs_up_sequence_covers_the_true_difference_at_every_look() -> None:
    """400 experiments, a look every 250 samples per arm up to 10,000: the confidence sequence
    (alpha 0.1) misses the true +4 points at some look in at most 10% of them; the
    ordinary 90% interval, checked at the same looks, misses in many more."""
    rng = np.random.default_rng(2026)
    alpha, runs, looks, step = 0.1, 400, 40, 250
    missed = naive_missed = 0
    for _ in range(runs):
        control = np.cumsum(rng.random(looks * step) < 0.70)
        treatment = np.cumsum(rng.random(looks * step) < 0.74)
        miss = naive = False
        for n in range(step, looks * step + 1, step):
            c, t = proportion(control[n - 1], n), proportion(treatment[n - 1], n)
            found = compare(M.THUMBS_UP, "t", c, t, alpha, planned=2000, minimum=0)
            assert found.lower is not None
            assert found.upper is not None
            miss |= not found.lower <= 4.0 <= found.upper
            radius = fixed_radius(c.variance + t.variance, alpha)
            naive |= abs(t.mean - c.mean - 0.04) > radius
        missed += miss
        naive_missed += naive
    assert missed / runs <= alpha
    assert naive_missed / runs > 3 * alpha


def test_the_latency_sequence_covers_the_true_ratio_from_histogram_buckets() -> None:
    """TTFT 15% slower on average, read as the gateway's buckets and sum: the relative
    confidence sequence holds +15% at every look in at least 1 - alpha of the experiments."""
    rng = np.random.default_rng(7)
    alpha, runs, looks, step = 0.1, 300, 30, 250
    bounds = np.array(TTFT_BOUNDS)
    missed = 0
    for _ in range(runs):
        arms = []
        for factor in (1.0, 1.15):
            values = 0.35 * factor * np.exp(0.5 * rng.standard_normal(looks * step))
            arms.append((values, np.searchsorted(bounds, values, side="left")))
        miss = False
        for n in range(2 * step, looks * step + 1, step):
            c, t = (
                estimate(
                    Distribution(
                        TTFT_BOUNDS,
                        np.bincount(b[:n], minlength=len(bounds)).astype(float),
                        np.array([v[:n].sum()]),
                    )
                )
                for v, b in arms
            )
            found = compare(M.TTFT, "t", c, t, alpha, planned=2000, minimum=0)
            assert found.lower is not None
            assert found.upper is not None
            miss |= not found.lower <= 15.0 <= found.upper
        missed += miss
    assert missed / runs <= alpha


def test_the_radius_shrinks_with_samples_and_is_wider_than_one_fixed_test() -> None:
    at_tuned = confidence_radius(1.0, 2000, 0.05, 2000)
    assert at_tuned > fixed_radius(1.0, 0.05)  # the price of looking as often as one likes
    assert confidence_radius(0.5, 4000, 0.05, 2000) < at_tuned
    assert math.isinf(confidence_radius(math.inf, 2000, 0.05, 2000))


# --- known differences, and none -----------------------------------------------------------------


def test_a_known_difference_is_shown_and_none_is_not() -> None:
    better = compare(
        M.THUMBS_UP, "t", proportion(3500, 5000), proportion(4000, 5000), 0.025, 2000, 1000
    )
    assert better.finding is Finding.BETTER
    assert better.effect == pytest.approx(10.0)
    same = compare(
        M.THUMBS_UP, "t", proportion(3500, 5000), proportion(3500, 5000), 0.025, 2000, 1000
    )
    assert same.finding is Finding.NOT_SHOWN
    assert same.effect == 0.0
    assert same.lower is not None
    assert same.upper is not None
    assert same.lower < 0 < same.upper


def test_lower_is_better_for_latency_errors_and_cost() -> None:
    slow = Estimate(5000, 0.46, 0.25**2 / 5000)
    fast = Estimate(5000, 0.40, 0.25**2 / 5000)
    assert compare(M.TTFT, "t", fast, slow, 0.025, 2000, 1000).finding is Finding.WORSE
    assert compare(M.TTFT, "t", slow, fast, 0.025, 2000, 1000).finding is Finding.BETTER
    guard = compare(M.TTFT, "t", fast, slow, 0.025, 2000, 1000, tolerance=10)
    assert guard.finding is Finding.WORSE  # +15%, its whole interval past +10%
    assert compare(M.TTFT, "t", fast, slow, 0.025, 2000, 1000, 30).finding is Finding.WITHIN
    errors = compare(
        M.ERROR_RATIO, "t", proportion(10, 5000), proportion(100, 5000), 0.025, 2000, 1000, 0.5
    )
    assert errors.finding is Finding.WORSE  # +1.8 points, past +0.5


def test_no_verdict_before_the_minimum_samples() -> None:
    found = compare(
        M.THUMBS_UP, "t", proportion(500, 999), proportion(900, 1000), 0.025, 2000, 1000
    )
    assert found.finding is Finding.TOO_FEW
    assert "999 and 1000 samples, fewer than 1000 each" in found.summary


def test_estimates_from_buckets_sums_and_minutes() -> None:
    """A histogram's mean is its sum over its count; its spread comes from the buckets; a
    cost per request varies by minute."""
    one_bucket = estimate(Distribution((0.1, 0.2, math.inf), np.array([0.0, 100, 0]), None))
    assert one_bucket is not None
    assert one_bucket.mean == pytest.approx(0.15)  # the midpoint, without a sum
    assert one_bucket.variance == pytest.approx(0.1**2 / 12 / 100)  # uniform in the bucket
    summed = estimate(Distribution((0.1, 0.2, math.inf), np.array([0.0, 100, 0]), np.array([17])))
    assert summed is not None
    assert summed.mean == pytest.approx(0.17)
    steady = estimate(PerRequest(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])))
    assert steady is not None
    assert steady.mean == pytest.approx(0.1)
    assert steady.variance == pytest.approx(0.0)
    varying = estimate(PerRequest(np.array([1.0, 4.0, 3.0]), np.array([10.0, 20.0, 30.0])))
    assert varying is not None
    assert varying.variance > 0
    assert estimate(Proportion(np.zeros(3), np.zeros(3))) is None


# --- verdicts ------------------------------------------------------------------------------------


def comparison(finding: Finding, role: str = "primary", metric: M = M.THUMBS_UP) -> Comparison:
    return Comparison(
        metric=metric,
        role="primary" if role == "primary" else "guardrail",
        treatment="prompt-v2",
        control_samples=5000,
        treatment_samples=5000,
        control_mean=0.7,
        treatment_mean=0.74,
        effect=4.0,
        lower=1.0,
        upper=7.0,
        tolerance=None if role == "primary" else 10.0,
        alpha=0.025,
        finding=finding,
        summary=f"{metric.value} {finding.value}",
    )


def test_a_winner_needs_its_primary_shown_better_and_every_guardrail_measured() -> None:
    guard = comparison(Finding.NOT_SHOWN, "guardrail", M.TTFT)
    assert decide(comparison(Finding.BETTER), [guard], False).verdict is Verdict.WINNER
    unmeasured = comparison(Finding.TOO_FEW, "guardrail", M.JUDGE_SCORE)
    waiting = decide(comparison(Finding.BETTER), [guard, unmeasured], False)
    assert waiting.verdict is Verdict.CONTINUE
    assert "guardrail judge-score too-few" in waiting.reasons
    worse = comparison(Finding.WORSE, "guardrail", M.TTFT)
    lost = decide(comparison(Finding.BETTER), [worse], False)
    assert lost.verdict is Verdict.LOSER
    assert lost.reasons == ("ttft worse",)
    assert decide(comparison(Finding.WORSE), [], False).verdict is Verdict.LOSER
    assert decide(comparison(Finding.NOT_SHOWN), [], False).verdict is Verdict.CONTINUE
    assert decide(comparison(Finding.NOT_SHOWN), [], True).verdict is Verdict.NO_DIFFERENCE


# --- end to end on a stand-in source -------------------------------------------------------------


def arms(control: Truth, treatment: Truth, minutes: int, seed: int) -> ArmsSource:
    rng = np.random.default_rng(seed)
    found = {"control": synthesize(control, minutes, rng)}
    found["prompt-v2"] = synthesize(treatment, minutes, rng)
    return ArmsSource("chat", found, START)


def test_a_better_variant_wins_with_its_effect_samples_and_queries() -> None:
    source = arms(Truth(per_minute=40), Truth(per_minute=40, thumbs_up=0.80), 8 * 60, seed=1)
    spec = experiment(guardrails=[{"metric": "ttft", "tolerance": 10}])
    report = evaluate_experiment(
        spec, GATEWAY, source, "dev", START + timedelta(hours=8, minutes=1), START
    )
    assert report.verdict is Verdict.WINNER
    assert report.winner == "prompt-v2"
    primary = report.treatments[0].primary
    assert primary.effect is not None
    assert 6 < primary.effect < 14
    assert primary.finding is Finding.BETTER
    assert report.treatments[0].comparisons[1].finding is not Finding.WORSE
    assert [a.variant for a in report.arms] == ["control", "prompt-v2"]
    assert all(a.requests > 15_000 for a in report.arms)
    assert report.minutes == 480
    names = [q.name for q in report.queries]
    assert names == ["requests", "feedback", "ttft buckets", "ttft sum"]
    assert all('route="chat",variant=~"control|prompt-v2"' in q.query for q in report.queries)


def test_no_difference_is_no_winner_and_ends_as_no_difference() -> None:
    source = arms(Truth(per_minute=40), Truth(per_minute=40), 8 * 60, seed=2)
    spec = experiment(maxDuration="8h")
    running = evaluate_experiment(spec, GATEWAY, source, "dev", START + timedelta(hours=4), START)
    assert running.verdict is Verdict.CONTINUE
    ended = evaluate_experiment(spec, GATEWAY, source, "dev", START + timedelta(hours=9), START)
    assert ended.verdict is Verdict.NO_DIFFERENCE
    assert ended.ended
    assert ended.minutes == 480  # the horizon, not the time since
    assert ended.reasons[0] == "the experiment ended after 8h"


def test_a_guardrail_shown_worse_than_its_tolerance_loses() -> None:
    source = arms(
        Truth(per_minute=40), Truth(per_minute=40, thumbs_up=0.8, ttft=0.5), 4 * 60, seed=3
    )
    report = evaluate_experiment(
        experiment(), GATEWAY, source, "dev", START + timedelta(hours=4, minutes=1), START
    )
    assert report.verdict is Verdict.LOSER
    assert report.winner is None
    assert any("ttft" in r and "shown worse than +10%" in r for r in report.reasons)


def test_too_few_samples_say_when_there_will_be_enough() -> None:
    source = arms(Truth(per_minute=10), Truth(per_minute=10), 60, seed=4)
    report = evaluate_experiment(
        experiment(), GATEWAY, source, "dev", START + timedelta(minutes=61), START
    )
    assert report.verdict is Verdict.CONTINUE
    assert any("enough thumbs-up samples in about" in r for r in report.reasons)


def test_errors_cost_and_judge_are_read_too() -> None:
    source = arms(Truth(per_minute=40), Truth(per_minute=40, judge=0.8, usd=0.002), 6 * 60, seed=5)
    spec = experiment(
        primary="judge-score",
        guardrails=[
            {"metric": "error-ratio", "tolerance": 1},
            {"metric": "cost-per-1k", "tolerance": 50},
        ],
    )
    report = evaluate_experiment(
        spec, GATEWAY, source, "dev", START + timedelta(hours=6, minutes=1), START
    )
    primary, errors, cost = report.treatments[0].comparisons
    assert primary.finding is Finding.BETTER
    assert errors.finding is Finding.WITHIN
    assert cost.finding is Finding.WORSE  # twice the cost, past +50%
    assert cost.control_mean == pytest.approx(1.0, rel=0.05)  # USD per 1,000 requests
    assert report.verdict is Verdict.LOSER


def test_a_long_experiment_is_read_a_day_at_a_time() -> None:
    source = arms(Truth(per_minute=2), Truth(per_minute=2), 3 * 24 * 60, seed=6)
    evaluate_experiment(
        experiment(guardrails=[]), GATEWAY, source, "dev", START + timedelta(days=3), START
    )
    assert max(count for _, count in source.asked) == MINUTES_PER_READ
    assert sum(count for q, count in source.asked if "feedback" in q) == 3 * 24 * 60 - 1


class Down(ArmsSource):
    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        raise MetricsUnavailable("http://prometheus: ConnectError")


def test_unreadable_metrics_or_a_dialect_without_variants_never_decide() -> None:
    down = Down("chat", {}, START)
    at = START + timedelta(hours=2)
    report = evaluate_experiment(experiment(), GATEWAY, down, "dev", at, START)
    assert report.verdict is Verdict.CONTINUE
    assert report.reasons == ("metrics unavailable: http://prometheus: ConnectError",)
    vllm = evaluate_experiment(experiment(), VLLM, down, "dev", at, START)
    assert vllm.reasons == ("the vllm dialect has no variant label",)


def test_windows_looks_and_an_unknown_start() -> None:
    spec = experiment(interval="1h", maxDuration="1d")
    window = plan_window(spec, START + timedelta(hours=5, minutes=10), START)
    assert (window.look, window.max_looks, window.ended) == (5, 24, False)
    assert window.minutes == 309  # whole minutes, the last one settled 30 s ago
    unknown = plan_window(spec, START, None)
    assert not unknown.known
    assert not unknown.ended
    assert unknown.started == START - timedelta(days=1)
    capped = plan_window(experiment(interval="1h", maxDuration="1d", maxLooks=3), START, None)
    assert capped.started == START - timedelta(hours=3)


def test_evidence_restarts_when_the_arms_change_and_only_then() -> None:
    env = doc(Environment, "dev", {"targets": [{"type": "gateway", "url": "http://127.0.0.1:9"}]})
    model = {"baseModel": "x", "framework": "openai-compatible", "endpoint": "http://h/v1"}
    models = (doc(Model, "a", model), doc(Model, "b", model))

    def state(weights: tuple[int, int], spec: Experiment) -> DesiredState:
        route = doc(
            Route,
            "chat",
            {
                "model": "a",
                "variants": [
                    {"name": "control", "model": "a", "weight": weights[0]},
                    {"name": "prompt-v2", "model": "b", "weight": weights[1]},
                ],
            },
        )
        return DesiredState(environment=env, models=models, routes=(route,), experiments=(spec,))

    spec = experiment()
    first = experiment_identity(state((50, 50), spec), spec)
    assert experiment_identity(state((50, 50), experiment(alpha=0.01)), spec) == first
    assert experiment_identity(state((90, 10), spec), spec) != first
