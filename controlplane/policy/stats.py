"""Statistics for canary analysis, on per-minute histogram and counter increments.

Prometheus keeps latency as histogram buckets, so each arm is a count per bucket per minute.

Latency: the probability that a canary request, made `margin` faster, is still slower than a
baseline request of the same minute (an AUC, as Mann-Whitney's U divided by its pairs). With no
margin that is 1/2 when the arms do not differ. Requests are spread uniformly within their bucket
(as PromQL's histogram_quantile assumes), so a canary bucket scaled by 1/(1 + margin) is compared
with the baseline buckets it overlaps. Strata are minutes: every canary request is compared with
the baseline requests of its own minute, so a slowdown that hits both arms at once cancels out.
The standard error is DeLong's, from the placements of each arm's requests among the other's.

Errors: an exact conditional test. Given each minute's requests per arm and its errors in all,
the canary's errors that minute follow Fisher's noncentral hypergeometric distribution with the
odds ratio of the two arms; the sum over minutes is their convolution. No normal approximation,
so small alphas mean what they say.

scipy is imported inside the functions: it takes a second, which every CLI command (a simulator,
the gateway) would otherwise pay at start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from controlplane.spec.policy import Correction

Counts = npt.NDArray[np.float64]  # minutes x buckets (latency) or minutes (errors)

# The +Inf bucket has no upper bound; its requests are spread up to twice the last finite one.
OPEN_BUCKET_SPAN = 2.0


def bucket_intervals(bounds: Sequence[float]) -> tuple[Counts, Counts]:
    """(lower, upper) of each bucket, from the ascending upper bounds `le` (last may be +Inf)."""
    upper = np.array(bounds, dtype=float)
    finite = upper[np.isfinite(upper)]
    top = finite[-1] * OPEN_BUCKET_SPAN if finite.size else 1.0
    upper = np.where(np.isfinite(upper), upper, top)
    lower = np.concatenate(([0.0], upper[:-1]))
    return lower, upper


def _uniform_integral(x: Counts, low: Counts, high: Counts) -> Counts:
    """Integral from -inf to x of the CDF of Uniform(low, high), elementwise."""
    width = np.maximum(high - low, 1e-300)
    inside = np.clip(x - low, 0.0, width)
    integral: Counts = inside**2 / (2 * width) + np.maximum(x - high, 0.0)
    return integral


def score_matrix(bounds: Sequence[float], margin: float) -> Counts:
    """S[k, j] = P(X / (1 + margin) > Y) for X uniform in bucket k and Y uniform in bucket j."""
    return _score_matrix(tuple(bounds), margin)


@lru_cache(maxsize=64)  # the same few bucket layouts and margins, for every route and tick
def _score_matrix(bounds: tuple[float, ...], margin: float) -> Counts:
    lower, upper = bucket_intervals(bounds)
    a1, a2 = (lower / (1 + margin))[:, None], (upper / (1 + margin))[:, None]
    b1, b2 = lower[None, :], upper[None, :]
    # E_X[F_Y(X)]: the mean over the scaled canary bucket of the baseline bucket's CDF.
    mean_cdf = (_uniform_integral(a2, b1, b2) - _uniform_integral(a1, b1, b2)) / np.maximum(
        a2 - a1, 1e-300
    )
    scores = np.asarray(np.clip(mean_cdf, 0.0, 1.0), dtype=float)
    scores.flags.writeable = False  # shared by every caller
    return scores


def stratified_auc(canary: Counts, baseline: Counts, scores: Counts) -> tuple[float, float]:
    """(AUC, its standard error) of canary against baseline, minute by minute.

    Each minute weighs as its pairs of requests (n_canary * n_baseline): the sum of the minutes'
    U statistics over the sum of their pairs. Minutes without requests in both arms drop out."""
    n_c, n_b = canary.sum(axis=1), baseline.sum(axis=1)
    keep = (n_c > 0) & (n_b > 0)
    canary, baseline, n_c, n_b = canary[keep], baseline[keep], n_c[keep], n_b[keep]
    if not keep.any():
        return 0.5, math.inf
    canary_place = (baseline @ scores.T) / n_b[:, None]  # each canary bucket among the baseline
    baseline_place = (canary @ scores) / n_c[:, None]  # each baseline bucket among the canary
    per_minute = (canary * canary_place).sum(axis=1) / n_c
    pairs = n_c * n_b
    weights = pairs / pairs.sum()
    auc = float((weights * per_minute).sum())
    strata = len(n_c)
    dof_c, dof_b = max(n_c.sum() - strata, 1.0), max(n_b.sum() - strata, 1.0)
    var_c = float((canary * (canary_place - per_minute[:, None]) ** 2).sum() / dof_c)
    var_b = float((baseline * (baseline_place - per_minute[:, None]) ** 2).sum() / dof_b)
    variance = float((weights**2 * (var_c / n_c + var_b / n_b)).sum())
    return auc, math.sqrt(variance)


def auc_p(auc: float, se: float, greater: bool) -> float:
    """One-sided p-value of the AUC against 1/2: above it (greater) or below it."""
    if se == 0 or not math.isfinite(se):
        return 1.0 if (auc <= 0.5 if greater else auc >= 0.5) else 0.0
    z = (auc - 0.5) / se
    return 0.5 * math.erfc((z if greater else -z) / math.sqrt(2))  # the normal tail


def _fisher_noncentral(
    n_c: Counts, n_b: Counts, errors: Counts, odds: float
) -> tuple[Counts, Counts]:
    """Fisher's noncentral hypergeometric pmf of the canary's errors in each minute: the first
    possible count per minute, and the pmf from there (one row per minute, zero-padded)."""
    from scipy.special import gammaln

    first = np.maximum(0.0, errors - n_b)
    last = np.minimum(errors, n_c)
    x = first[:, None] + np.arange(int((last - first).max()) + 1)[None, :]
    possible = x <= last[:, None]
    x = np.where(possible, x, first[:, None])
    n_c, n_b, errors = n_c[:, None], n_b[:, None], errors[:, None]
    log_w = (
        gammaln(n_c + 1)
        - gammaln(x + 1)
        - gammaln(n_c - x + 1)
        + gammaln(n_b + 1)
        - gammaln(errors - x + 1)
        - gammaln(n_b - errors + x + 1)
        + x * math.log(odds)
    )
    log_w = np.where(possible, log_w, -np.inf)
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return first, w / w.sum(axis=1, keepdims=True)


def _sum_distribution(pmfs: Counts) -> Counts:
    """The pmf of a sum of independent counts, one pmf per row: their convolution, by FFT (one
    product of transforms instead of a convolution per minute). Round-off is about 1e-15 of the
    largest probability, far below any alpha a policy spends."""
    rows, width = pmfs.shape
    size = rows * (width - 1) + 1
    length = 1 << max(size - 1, 1).bit_length()
    product = np.prod(np.fft.rfft(pmfs, n=length, axis=1), axis=0)
    pmf = np.fft.irfft(product, n=length)[:size]
    return np.clip(pmf, 0.0, None)


def stratified_error_p(
    canary_errors: Counts,
    canary_total: Counts,
    baseline_errors: Counts,
    baseline_total: Counts,
    odds: float,
    greater: bool,
) -> float:
    """Exact one-sided p-value that the canary's odds of an error are above `odds` times the
    baseline's (greater), or below them, conditional on each minute's margins."""
    # Counts from Prometheus are floats; errors cannot outnumber requests.
    n_c, n_b = np.round(canary_total), np.round(baseline_total)
    e_c = np.minimum(np.round(canary_errors), n_c)
    e_b = np.minimum(np.round(baseline_errors), n_b)
    # A minute without errors, or without one of the arms, says nothing about the odds.
    telling = (e_c + e_b > 0) & (n_c > 0) & (n_b > 0)
    if not telling.any():
        return 1.0
    first, pmfs = _fisher_noncentral(n_c[telling], n_b[telling], (e_c + e_b)[telling], odds)
    pmf = _sum_distribution(pmfs)
    index = int(e_c[telling].sum() - first.sum())
    if greater:
        return float(min(1.0, pmf[index:].sum()))
    return float(min(1.0, pmf[: index + 1].sum()))


def odds_margin(baseline_ratio: float, points: float) -> float:
    """The odds ratio at which the canary's error ratio is `points` above the baseline's."""
    p = min(max(baseline_ratio, 1e-6), 1 - 1e-6)
    q = min(p + points / 100, 1 - 1e-9)
    return (q / (1 - q)) / (p / (1 - p))


def spent_alpha(alpha: float, fraction: float, correction: Correction) -> float:
    """Cumulative alpha spent by information fraction t in (0, 1] (Lan-DeMets spending)."""
    from scipy import stats

    t = min(max(fraction, 0.0), 1.0)
    if t == 0:
        return 0.0
    match correction:
        case Correction.OBRIEN_FLEMING:
            return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
        case Correction.POCOCK:
            return alpha * math.log(1 + (math.e - 1) * t)
        case Correction.BONFERRONI:
            return alpha * t
    raise AssertionError(correction)


def look_alpha(alpha: float, look: int | None, max_looks: int, correction: Correction) -> float:
    """Alpha this look may spend. Summed over all looks it is at most `alpha`, so testing at
    every look cannot push the false-failure rate past it. No look number: one fixed test."""
    if look is None:
        return alpha
    if look > max_looks or look < 1:
        return 0.0
    return spent_alpha(alpha, look / max_looks, correction) - spent_alpha(
        alpha, (look - 1) / max_looks, correction
    )


def quantile_from_buckets(bounds: list[float], counts: list[float], q: float) -> float | None:
    """Like PromQL's histogram_quantile: linear within the bucket that holds the quantile."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0.0
    lower = 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if seen + count >= rank and count > 0:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        lower = bound if not math.isinf(bound) else lower
    return lower
