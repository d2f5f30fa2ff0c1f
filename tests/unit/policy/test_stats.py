"""Canary statistics: agreement with scipy's own tests, alpha spending, and calibration measured
on simulated histograms (a canary right at the allowed increase fails at most alpha of the time;
a slowdown shared by both arms cancels out minute by minute)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from controlplane.policy.dialects import GATEWAY
from controlplane.policy.stats import (
    auc_p,
    look_alpha,
    odds_margin,
    quantile_from_buckets,
    score_matrix,
    stratified_auc,
    stratified_error_p,
)
from controlplane.spec.policy import Correction

Array = npt.NDArray[np.float64]
BOUNDS = [*GATEWAY.buckets["ttft"], float("inf")]


def lognormal_shares(median: float, sigma: float = 0.5) -> Array:
    cdf = stats.norm.cdf((np.log(BOUNDS[:-1]) - np.log(median)) / sigma)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def minutes(
    rng: np.random.Generator, rate: float, medians: list[float], sigma: float = 0.5
) -> Array:
    """Per-minute bucket counts: minutes x buckets, a Poisson number of requests a minute."""
    return np.array(
        [rng.multinomial(rng.poisson(rate), lognormal_shares(m, sigma)) for m in medians],
        dtype=float,
    )


def test_without_a_margin_the_auc_is_mann_whitneys_u_over_its_pairs() -> None:
    rng = np.random.default_rng(4)
    canary, baseline = rng.integers(0, 40, len(BOUNDS)), rng.integers(0, 40, len(BOUNDS))
    u = stats.mannwhitneyu(
        np.repeat(np.arange(len(BOUNDS)), canary), np.repeat(np.arange(len(BOUNDS)), baseline)
    ).statistic
    auc, se = stratified_auc(
        canary[None, :].astype(float), baseline[None, :].astype(float), score_matrix(BOUNDS, 0)
    )
    assert auc == pytest.approx(u / (canary.sum() * baseline.sum()))
    assert 0 < se < 0.1


def test_scores_compare_a_scaled_canary_bucket_with_the_baseline_buckets() -> None:
    plain, margin = score_matrix(BOUNDS, 0.0), score_matrix(BOUNDS, 0.5)
    assert np.allclose(np.diag(plain), 0.5)  # the same bucket: a tie
    assert np.allclose(plain + plain.T, 1.0)
    assert np.all(margin <= plain + 1e-12)  # a canary made faster is less often the slower one
    # Bucket (0.1, 0.2] divided by 1.5 is (0.067, 0.133], against (0.05, 0.1]: by sampling.
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.1, 0.2, 400_000) / 1.5, rng.uniform(0.05, 0.1, 400_000)
    k, j = BOUNDS.index(0.2), BOUNDS.index(0.1)
    assert margin[k, j] == pytest.approx(float(np.mean(x > y)), abs=0.003)


@pytest.mark.parametrize("median", [0.2, 0.35, 0.6])
def test_a_canary_right_at_the_allowed_increase_fails_at_most_alpha(median: float) -> None:
    rng = np.random.default_rng(11)
    scores = score_matrix(BOUNDS, 0.10)
    rollouts, alpha = 400, 0.05
    failed = 0
    for _ in range(rollouts):
        canary = minutes(rng, 60, [median * 1.10] * 15)
        baseline = minutes(rng, 540, [median] * 15)
        failed += auc_p(*stratified_auc(canary, baseline, scores), greater=True) < alpha
    assert failed / rollouts <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / rollouts)


def test_a_slowdown_shared_by_both_arms_cancels_out_minute_by_minute() -> None:
    rng = np.random.default_rng(3)
    scores = score_matrix(BOUNDS, 0.0)
    # The canary has traffic only in the slow minutes' half of the window, as a canary that
    # starts during an incident: pooled over the window it looks slower, per minute it is not.
    shared = [0.8] * 5 + [0.2] * 5
    z_stratified, z_pooled = [], []
    for _ in range(200):
        canary = minutes(rng, 50, shared) * np.array([[1]] * 5 + [[0.2]] * 5)
        canary = np.round(canary)
        baseline = minutes(rng, 450, shared)
        auc, se = stratified_auc(canary, baseline, scores)
        z_stratified.append((auc - 0.5) / se)
        pooled_auc, pooled_se = stratified_auc(
            canary.sum(axis=0, keepdims=True), baseline.sum(axis=0, keepdims=True), scores
        )
        z_pooled.append((pooled_auc - 0.5) / pooled_se)
    assert abs(float(np.mean(z_stratified))) < 0.3
    assert float(np.mean(z_pooled)) > 5


def test_auc_p_is_the_normal_tail() -> None:
    assert auc_p(0.5 + 1.96 * 0.01, 0.01, greater=True) == pytest.approx(0.025, rel=1e-3)
    assert auc_p(0.5 + 1.96 * 0.01, 0.01, greater=False) == pytest.approx(0.975, rel=1e-3)
    assert auc_p(0.7, 0.0, greater=True) == 0.0
    assert auc_p(0.5, float("inf"), greater=True) == 1.0


def test_one_minute_of_errors_is_fishers_exact_test() -> None:
    table = ([[7, 93], [20, 880]], 1.0)
    expected = stats.fisher_exact(table[0], alternative="greater").pvalue
    p = stratified_error_p(
        np.array([7.0]), np.array([100.0]), np.array([20.0]), np.array([900.0]), 1.0, True
    )
    assert p == pytest.approx(expected, rel=1e-9)
    less = stats.fisher_exact(table[0], alternative="less").pvalue
    assert stratified_error_p(
        np.array([7.0]), np.array([100.0]), np.array([20.0]), np.array([900.0]), 1.0, False
    ) == pytest.approx(less, rel=1e-9)


def test_minutes_of_errors_convolve_fishers_noncentral_distributions() -> None:
    rng = np.random.default_rng(8)
    n_c, n_b = rng.integers(10, 60, 6).astype(float), rng.integers(100, 500, 6).astype(float)
    e_c, e_b = (
        rng.binomial(n_c.astype(int), 0.1).astype(float),
        rng.binomial(n_b.astype(int), 0.05).astype(float),
    )
    odds = 1.7
    pmf = np.ones(1)
    first = 0
    for c, b, e in zip(n_c, n_b, e_c + e_b, strict=True):
        support = np.arange(max(0, e - b), min(e, c) + 1)
        first += int(support[0])
        pmf = np.convolve(pmf, stats.nchypergeom_fisher(c + b, e, c, odds).pmf(support))
    expected = pmf[int(e_c.sum()) - first :].sum()
    assert stratified_error_p(e_c, n_c, e_b, n_b, odds, True) == pytest.approx(expected, rel=1e-6)


def test_errors_test_is_exact_so_small_alphas_hold() -> None:
    rng = np.random.default_rng(5)
    rollouts, alpha = 3000, 0.01
    failed = 0
    for _ in range(rollouts):
        n_c, n_b = rng.poisson(20, 30).astype(float), rng.poisson(180, 30).astype(float)
        e_c = rng.binomial(n_c.astype(int), 0.004).astype(float)
        e_b = rng.binomial(n_b.astype(int), 0.004).astype(float)
        failed += stratified_error_p(e_c, n_c, e_b, n_b, 1.0, True) < alpha
    assert failed / rollouts <= alpha  # exact tests are conservative, never optimistic


def test_minutes_without_errors_or_without_an_arm_say_nothing() -> None:
    zeros = np.zeros(3)
    assert stratified_error_p(zeros, np.full(3, 10.0), zeros, np.full(3, 90.0), 1.0, True) == 1
    assert (
        stratified_error_p(np.full(3, 5.0), np.full(3, 10.0), zeros, zeros, 1.0, True) == 1
    )  # no baseline at all


def test_odds_margin_maps_the_baseline_ratio_to_points_above_it() -> None:
    odds = odds_margin(0.002, 0.15)
    p = 0.002
    q = odds * p / (1 - p) / (1 + odds * p / (1 - p))
    assert q == pytest.approx(0.0035)
    assert odds_margin(0.0, 0.15) > 1  # an error-free baseline still gives a finite margin


@pytest.mark.parametrize("correction", list(Correction))
def test_alpha_spent_over_all_looks_is_alpha(correction: Correction) -> None:
    per_look = [look_alpha(0.05, k, 20, correction) for k in range(1, 21)]
    assert sum(per_look) == pytest.approx(0.05)
    assert all(a >= 0 for a in per_look)
    assert look_alpha(0.05, 21, 20, correction) == 0
    if correction is Correction.OBRIEN_FLEMING:
        assert per_look[0] < 1e-6 < per_look[-1]  # strict early, lenient late
    if correction is Correction.POCOCK:
        assert per_look[0] / per_look[-1] < 3  # about even


def test_quantile_interpolates_like_promql() -> None:
    assert quantile_from_buckets([0.1, 0.2, float("inf")], [50, 50, 0], 0.5) == pytest.approx(0.1)
    assert quantile_from_buckets([0.1, 0.2, float("inf")], [0, 100, 0], 0.5) == pytest.approx(0.15)
