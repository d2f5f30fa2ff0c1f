"""Canary statistics: agreement with scipy, alpha spending, and the measured false-failure rate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from scipy import stats

from controlplane.policy import Outcome
from controlplane.policy.canary import evaluate_canary
from controlplane.policy.dialects import GATEWAY
from controlplane.policy.stats import look_alpha, mann_whitney_greater, quantile_from_buckets
from controlplane.spec.policy import CanaryAnalysis, Correction

BOUNDS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, float("inf"))
SHARES = np.array([0.10, 0.35, 0.35, 0.12, 0.06, 0.015, 0.005])
SLOWER = np.array([0.02, 0.08, 0.25, 0.35, 0.22, 0.07, 0.01])
AT = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(5))
def test_mann_whitney_on_counts_equals_scipy_on_samples(seed: int) -> None:
    rng = np.random.default_rng(seed)
    canary, baseline = rng.integers(0, 60, 7), rng.integers(0, 60, 7)
    expanded_c = np.repeat(np.arange(7), canary)
    expanded_b = np.repeat(np.arange(7), baseline)
    expected = stats.mannwhitneyu(
        expanded_c, expanded_b, alternative="greater", method="asymptotic"
    ).pvalue
    assert mann_whitney_greater(canary.tolist(), baseline.tolist()) == pytest.approx(expected)


@pytest.mark.parametrize("correction", list(Correction))
def test_alpha_spent_over_all_looks_is_alpha(correction: Correction) -> None:
    per_look = [look_alpha(0.05, k, 20, correction) for k in range(1, 21)]
    assert sum(per_look) == pytest.approx(0.05)
    assert all(a >= 0 for a in per_look)
    assert look_alpha(0.05, 21, 20, correction) == 0
    if correction is Correction.OBRIEN_FLEMING:
        assert per_look[0] < 1e-6 < per_look[-1]  # strict early, lenient late


def test_quantile_interpolates_like_promql() -> None:
    assert quantile_from_buckets([0.1, 0.2, float("inf")], [50, 50, 0], 0.5) == pytest.approx(0.1)
    assert quantile_from_buckets([0.1, 0.2, float("inf")], [0, 100, 0], 0.5) == pytest.approx(0.15)


class Histograms:
    """Stand-in for Prometheus in pure tests: answers the canary's bucket queries from counts."""

    def __init__(self, canary: np.ndarray, baseline: np.ndarray) -> None:
        self.arms = {"canary": np.cumsum(canary), "baseline": np.cumsum(baseline)}

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        arm = self.arms["baseline" if 'variant!="canary"' in query else "canary"]
        return {
            ("+Inf" if b == float("inf") else repr(b)): float(v)
            for b, v in zip(BOUNDS, arm, strict=True)
        }

    def scalar(self, query: str, at: datetime) -> float | None:
        raise AssertionError("no scalar queries without an error check")


POLICY: Any = CanaryAnalysis.model_validate(
    {
        "apiVersion": "controlplane.dev/v1alpha1",
        "kind": "CanaryAnalysis",
        "metadata": {"name": "c"},
        "spec": {
            "minSamplesPerArm": 200,
            "alpha": 0.05,
            "maxLooks": 10,
            "correction": "obrien-fleming",
            "latency": [
                {"metric": "ttft", "allowedIncreasePercent": 0, "criticalIncreasePercent": 1000}
            ],
        },
    }
)


def rollout_fails(rng: np.random.Generator, canary_shares: np.ndarray) -> bool:
    """Ten looks at a canary, each on fresh traffic; does any look fail it?"""
    for look in range(1, 11):
        source = Histograms(rng.multinomial(500, canary_shares), rng.multinomial(500, SHARES))
        result = evaluate_canary(POLICY, GATEWAY, source, "prod", "chat", AT, look)
        if result.outcome is Outcome.FAIL:
            return True
    return False


def test_false_failure_rate_on_noise_stays_within_alpha() -> None:
    rng = np.random.default_rng(2026)
    rollouts = 400
    failures = sum(rollout_fails(rng, SHARES) for _ in range(rollouts))
    rate = failures / rollouts
    bound = 0.05 + 3 * np.sqrt(0.05 * 0.95 / rollouts)
    print(
        f"false-failure rate over {rollouts} noise-only rollouts of 10 looks: {rate:.3f} "
        f"(alpha 0.05, bound {bound:.3f})"
    )
    assert rate <= bound
    # Without the correction, testing each look at the full alpha fails far more often.
    naive = POLICY.model_copy(update={"spec": POLICY.spec.model_copy(update={"max_looks": 1})})
    naive_failures = 0
    for _ in range(rollouts):
        for _look in range(10):
            source = Histograms(rng.multinomial(500, SHARES), rng.multinomial(500, SHARES))
            if (
                evaluate_canary(naive, GATEWAY, source, "prod", "chat", AT, 1).outcome
                is Outcome.FAIL
            ):
                naive_failures += 1
                break
    assert naive_failures / rollouts > rate


def test_a_real_slowdown_is_caught_in_nearly_every_rollout() -> None:
    rng = np.random.default_rng(7)
    caught = sum(rollout_fails(rng, SLOWER) for _ in range(100))
    assert caught >= 95
