"""Canary analysis: the canary arm against the baseline, over the same window.

Latency: a one-sided Mann-Whitney U test on histogram buckets, and the increase of the median
(interpolated as histogram_quantile does). Errors: Fisher's exact test or a two-proportion
z-test. A check fails only when the difference is significant at this look's share of alpha AND
larger than the allowed increase; it fails at once when it is past the critical increase and
significant at the full alpha. Too few requests in either arm is inconclusive.
"""

from __future__ import annotations

import math
from datetime import datetime

from controlplane.errors import MetricsUnavailable
from controlplane.policy.dialects import Dialect
from controlplane.policy.model import Evaluation, Evidence, Outcome, combine, evaluation
from controlplane.policy.source import MetricSource, duration
from controlplane.policy.stats import (
    error_increase_p,
    look_alpha,
    mann_whitney_greater,
    quantile_from_buckets,
)
from controlplane.spec.base import format_duration
from controlplane.spec.policy import CanaryAnalysis, LatencyCheck


def evaluate_canary(
    policy: CanaryAnalysis,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    route: str,
    at: datetime,
    look: int | None = None,
) -> Evaluation:
    spec = policy.spec
    alpha = look_alpha(spec.alpha, look, spec.max_looks, spec.correction)
    evidence: list[Evidence] = []
    outcomes: list[Outcome] = []
    reasons: list[str] = []
    if not dialect.variant_label:
        return evaluation(
            policy,
            "canary",
            environment,
            route,
            at,
            Outcome.INCONCLUSIVE,
            f"the {dialect.name} dialect has no arm label",
            evidence,
        )
    arms = (f'{dialect.variant_label}="canary"', f'{dialect.variant_label}!="canary"')
    w = duration(spec.window.total_seconds())
    selector = f'{dialect.route_label}="{route}"'
    try:
        for check in spec.latency:
            outcome, reason = _latency(
                check,
                dialect,
                source,
                selector,
                arms,
                w,
                at,
                alpha,
                spec.alpha,
                spec.min_samples_per_arm,
                evidence,
            )
            outcomes.append(outcome)
            reasons.append(reason)
        if spec.errors is not None and dialect.errors:
            counts = []
            ratios = []
            for arm in arms:
                total_q = f"sum(increase({dialect.requests}{{{selector},{arm}}}[{w}]))"
                bad_q = (
                    f"sum(increase({dialect.requests}{{{selector},{arm},{dialect.errors}}}[{w}]))"
                )
                counts.append(
                    (round(source.scalar(bad_q, at) or 0), round(source.scalar(total_q, at) or 0))
                )
                ratios.append(f"{bad_q} / {total_q}")
            (c_bad, c_n), (b_bad, b_n) = counts
            if min(c_n, b_n) < spec.min_samples_per_arm:
                outcomes.append(Outcome.INCONCLUSIVE)
                reasons.append(
                    f"errors: {c_n} canary and {b_n} baseline requests, fewer than "
                    f"{spec.min_samples_per_arm}"
                )
            else:
                p, test = error_increase_p(c_bad, c_n, b_bad, b_n)
                points = (c_bad / c_n - b_bad / b_n) * 100
                failed = (p < alpha and points > spec.errors.allowed_increase_points) or (
                    p < spec.alpha and points > spec.errors.critical_increase_points
                )
                outcomes.append(Outcome.FAIL if failed else Outcome.PASS)
                reasons.append(
                    f"errors {'up' if points >= 0 else 'down'} {abs(points):.2f} points "
                    f"(p={p:.3g}, {test})"
                )
                evidence.append(
                    Evidence(
                        name="error ratio increase (points)",
                        query=f"{dialect.requests} by arm",
                        value=points,
                        threshold=spec.errors.allowed_increase_points,
                        window=format_duration(spec.window),
                        samples=c_n + b_n,
                        signal=f"({ratios[0]} - {ratios[1]}) * 100",
                        note=f"p={p:.4g} vs alpha {alpha:.4g} ({test})",
                    )
                )
    except MetricsUnavailable as exc:
        return evaluation(
            policy,
            "canary",
            environment,
            route,
            at,
            Outcome.INCONCLUSIVE,
            f"metrics unavailable: {exc}",
            evidence,
        )
    return evaluation(
        policy, "canary", environment, route, at, combine(outcomes), "; ".join(reasons), evidence
    )


def _latency(
    check: LatencyCheck,
    dialect: Dialect,
    source: MetricSource,
    selector: str,
    arms: tuple[str, str],
    w: str,
    at: datetime,
    alpha: float,
    full_alpha: float,
    min_samples: int,
    evidence: list[Evidence],
) -> tuple[Outcome, str]:
    base = dialect.histogram(check.metric)
    per_arm = []
    queries = []
    for arm in arms:
        query = f"sum by (le) (increase({base}_bucket{{{selector},{arm}}}[{w}]))"
        queries.append(query)
        per_arm.append(source.by_label(query, at, "le"))
    bounds = sorted({float(le) for arm in per_arm for le in arm}, key=float)
    if not bounds:
        return Outcome.INCONCLUSIVE, f"{check.metric}: no samples"

    def counts(arm: dict[str, float]) -> list[float]:
        by_bound = {float(le): v for le, v in arm.items()}
        cumulative = [by_bound.get(b, 0.0) for b in bounds]
        return [max(cumulative[0], 0.0)] + [
            max(cumulative[i] - cumulative[i - 1], 0.0) for i in range(1, len(bounds))
        ]

    canary, baseline = counts(per_arm[0]), counts(per_arm[1])
    n_c, n_b = sum(canary), sum(baseline)
    if min(n_c, n_b) < min_samples:
        return Outcome.INCONCLUSIVE, (
            f"{check.metric}: {n_c:.0f} canary and {n_b:.0f} baseline "
            f"requests, fewer than {min_samples}"
        )
    p = mann_whitney_greater(canary, baseline)
    median_c = quantile_from_buckets(bounds, canary, 0.5) or 0.0
    median_b = quantile_from_buckets(bounds, baseline, 0.5) or 0.0
    increase = (median_c / median_b - 1) * 100 if median_b > 0 else math.inf
    failed = (p < alpha and increase > check.allowed_increase_percent) or (
        p < full_alpha and increase > check.critical_increase_percent
    )
    evidence.append(
        Evidence(
            name=f"{check.metric} median increase (%)",
            query=" vs ".join(queries),
            value=increase,
            threshold=check.allowed_increase_percent,
            window=w,
            samples=n_c + n_b,
            signal=" / ".join(f"histogram_quantile(0.5, {q})" for q in queries) + " * 100 - 100",
            note=f"canary median {median_c:.4g}s, baseline {median_b:.4g}s; Mann-Whitney "
            f"p={p:.4g} vs alpha {alpha:.4g}",
        )
    )
    verdict = Outcome.FAIL if failed else Outcome.PASS
    return verdict, f"{check.metric} median {increase:+.1f}% (p={p:.3g})"
