"""Statistics for canary analysis, on histogram bucket counts rather than raw samples.

Prometheus keeps latency as histogram buckets, so each arm is a count per bucket. The
Mann-Whitney U test treats every request in a bucket as tied at that bucket; U, its variance with
the tie correction, and the normal approximation are computed from the counts directly, which
is what scipy's asymptotic method does with the expanded samples, at a cost that does not grow
with traffic.

scipy is imported inside the functions: it takes a second, which every CLI command (a simulator,
the gateway) would otherwise pay at start.
"""

from __future__ import annotations

import math

from controlplane.spec.policy import Correction


def mann_whitney_greater(canary: list[float], baseline: list[float]) -> float:
    """One-sided p-value that the canary's values are stochastically larger (per-bin counts)."""
    from scipy import stats

    n_c, n_b = sum(canary), sum(baseline)
    n = n_c + n_b
    if n_c == 0 or n_b == 0:
        return 1.0
    u = 0.0
    below = 0.0
    for c, b in zip(canary, baseline, strict=True):
        u += c * (below + b / 2)
        below += b
    ties = sum((c + b) ** 3 - (c + b) for c, b in zip(canary, baseline, strict=True))
    variance = n_c * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (u - n_c * n_b / 2 - 0.5) / math.sqrt(variance)
    return float(stats.norm.sf(z))


def error_increase_p(
    canary_errors: int, canary_total: int, baseline_errors: int, baseline_total: int
) -> tuple[float, str]:
    """One-sided p-value that the canary's error ratio is higher, and the test used.

    Fisher's exact test when any expected cell count is below 5, else a pooled two-proportion
    z-test."""
    from scipy import stats

    table = [
        [canary_errors, canary_total - canary_errors],
        [baseline_errors, baseline_total - baseline_errors],
    ]
    total = canary_total + baseline_total
    errors = canary_errors + baseline_errors
    expected = [
        canary_total * errors / total,
        canary_total * (total - errors) / total,
        baseline_total * errors / total,
        baseline_total * (total - errors) / total,
    ]
    if min(expected) < 5:
        return float(stats.fisher_exact(table, alternative="greater").pvalue), "fisher-exact"
    p_c, p_b = canary_errors / canary_total, baseline_errors / baseline_total
    pooled = errors / total
    se = math.sqrt(pooled * (1 - pooled) * (1 / canary_total + 1 / baseline_total))
    if se == 0:
        return 1.0, "two-proportion-z"
    return float(stats.norm.sf((p_c - p_b) / se)), "two-proportion-z"


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
    if look > max_looks:
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
