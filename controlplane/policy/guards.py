"""Threshold guards (a latency quantile under a bound) and cost policies (budgets, unit cost)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from controlplane.errors import MetricsUnavailable
from controlplane.policy.dialects import Dialect
from controlplane.policy.model import Evaluation, Evidence, Outcome, evaluation
from controlplane.policy.source import MetricSource, duration
from controlplane.spec.base import format_duration
from controlplane.spec.policy import CostAction, CostBudget, CostPolicy, SLOPolicy, ThresholdGuard


def guard_queries(guard: ThresholdGuard, dialect: Dialect, route: str) -> tuple[str, str]:
    """(the quantile over the guard's window, the requests in it): what the evaluator asks, and
    what the rendered alert rule asks too."""
    base = dialect.histogram(guard.metric)
    w = duration(guard.for_.total_seconds())
    selector = f'{dialect.route_label}="{route}"'
    quantile = (
        f"histogram_quantile({guard.quantile}, sum by (le) "
        f"(rate({base}_bucket{{{selector}}}[{w}])))"
    )
    return quantile, f"sum(increase({base}_count{{{selector}}}[{w}]))"


def evaluate_guard(
    policy: SLOPolicy,
    guard: ThresholdGuard,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    route: str,
    at: datetime,
) -> Evaluation:
    w = duration(guard.for_.total_seconds())
    quantile_q, count_q = guard_queries(guard, dialect, route)
    limit = guard.threshold.total_seconds()

    def result(
        outcome: Outcome, reason: str, value: float | None = None, samples: float | None = None
    ) -> Evaluation:
        evidence = Evidence(
            name=f"{guard.metric} p{guard.quantile * 100:g}",
            query=quantile_q,
            value=value,
            threshold=limit,
            window=w,
            samples=samples,
            signal=quantile_q,
            note=f"samples from {count_q}",
        )
        return evaluation(
            policy, f"guard/{guard.name}", environment, route, at, outcome, reason, [evidence]
        )

    try:
        samples = source.scalar(count_q, at)
        if samples is None or samples < guard.min_samples:
            return result(
                Outcome.INCONCLUSIVE,
                f"{samples or 0:.0f} requests in {w}, fewer than {guard.min_samples}",
                samples=samples,
            )
        value = source.scalar(quantile_q, at)
    except MetricsUnavailable as exc:
        return result(Outcome.INCONCLUSIVE, f"metrics unavailable: {exc}")
    if value is None or math.isnan(value):
        return result(Outcome.INCONCLUSIVE, "no quantile (no data)", samples=samples)
    outcome = Outcome.FAIL if value > limit else Outcome.PASS
    relation = "above" if value > limit else "within"
    return result(
        outcome,
        f"p{guard.quantile * 100:g} {value * 1000:.0f} ms, {relation} "
        f"{limit * 1000:.0f} ms over {w}",
        value,
        samples,
    )


def period_bounds(at: datetime, period: str) -> tuple[datetime, datetime]:
    at = at.astimezone(UTC)
    if period == "day":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def evaluate_budget(
    policy: CostPolicy,
    budget: CostBudget,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    at: datetime,
) -> Evaluation:
    start, end = period_bounds(at, budget.period)
    elapsed = (at - start).total_seconds()
    label = {"route": dialect.route_label, "model": "model"}.get(budget.scope.type)

    def result(outcome: Outcome, reason: str, evidence: tuple[Evidence, ...] = ()) -> Evaluation:
        check = f"budget/{budget.name}"
        return evaluation(
            policy, check, environment, budget.scope.name, at, outcome, reason, evidence
        )

    if not dialect.cost or label is None:
        return result(
            Outcome.INCONCLUSIVE, f"the {dialect.name} metrics carry no cost by {budget.scope.type}"
        )
    if elapsed < 60:
        return result(Outcome.INCONCLUSIVE, "the period has just started")
    query = f'sum(increase({dialect.cost}{{{label}="{budget.scope.name}"}}[{duration(elapsed)}]))'
    try:
        found = source.scalar(query, at)
    except MetricsUnavailable as exc:
        return result(Outcome.INCONCLUSIVE, f"metrics unavailable: {exc}")
    if found is None:  # no series at all: missing metrics, not proof of zero spend
        return result(
            Outcome.INCONCLUSIVE, f"no cost data for {budget.scope.type} {budget.scope.name!r}"
        )
    spend = found
    forecast = spend / elapsed * (end - start).total_seconds()
    judged = {"spend": spend}
    if budget.forecast:
        judged["forecast"] = forecast
    crossed: list[tuple[str, float, CostAction]] = []
    for what, amount in judged.items():
        for threshold in budget.thresholds:
            if amount >= budget.limit_usd * threshold.percent / 100:
                crossed.append((what, threshold.percent, threshold.action))
    evidence = (
        Evidence(
            name="spend so far (USD)",
            query=query,
            value=spend,
            threshold=budget.limit_usd,
            window=format_duration(at - start),
        ),
        Evidence(
            name="linear forecast for the period (USD)",
            query=query,
            value=forecast,
            threshold=budget.limit_usd,
            window=format_duration(end - start),
            note="judged" if budget.forecast else "not judged (forecast: false)",
        ),
    )
    failing = [c for c in crossed if c[2] is CostAction.ROLLBACK]
    if failing:
        what, percent, _ = max(failing, key=lambda c: c[1])
        return result(
            Outcome.FAIL,
            f"{what} ${judged[what]:,.2f} is past {percent:g}% of the "
            f"${budget.limit_usd:,.0f} {budget.period} budget",
            evidence,
        )
    notes = ", ".join(f"{w} past {p:g}% (notify)" for w, p, _ in crossed)
    return result(
        Outcome.PASS,
        notes or f"spend ${spend:,.2f}, forecast ${forecast:,.2f} of ${budget.limit_usd:,.0f}",
        evidence,
    )


UNIT_COST_MIN_REQUESTS = 100


def evaluate_unit_cost(
    policy: CostPolicy,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    route: str,
    at: datetime,
    has_canary: bool,
) -> Evaluation | None:
    """USD per 1,000 requests on a route, and of its canary against the baseline, over the
    policy's interval (at least an hour)."""
    unit = policy.spec.unit_cost
    if unit.max_usd_per_1k_requests is None and unit.canary_max_increase_percent is None:
        return None
    window = max(policy.spec.interval, timedelta(hours=1))
    w = duration(window.total_seconds())
    selector = f'{dialect.route_label}="{route}"'
    evidence: list[Evidence] = []
    failures: list[str] = []
    inconclusive: list[str] = []

    def per_1k(arm: str, limit: float | None = None) -> float | None:
        match = f"{selector},{arm}" if arm else selector
        cost_q = f"sum(increase({dialect.cost}{{{match}}}[{w}]))"
        requests_q = f"sum(increase({dialect.requests}{{{match}}}[{w}]))"
        ratio_q = f"{cost_q} / {requests_q} * 1000"
        cost, count = source.scalar(cost_q, at), source.scalar(requests_q, at)
        name = f"USD per 1k requests{' (' + arm + ')' if arm else ''}"
        if cost is None or count is None or count < UNIT_COST_MIN_REQUESTS:
            inconclusive.append(f"{name}: {count or 0:.0f} requests with cost data")
            evidence.append(
                Evidence(name=name, query=f"{cost_q} / {requests_q}", window=w, samples=count)
            )
            return None
        value = cost / count * 1000
        evidence.append(
            Evidence(
                name=name,
                query=ratio_q,
                value=value,
                threshold=limit,
                window=w,
                samples=count,
                signal=ratio_q if limit is not None else "",
            )
        )
        return value

    try:
        if not dialect.cost:
            raise MetricsUnavailable(f"the {dialect.name} metrics carry no cost")
        if unit.max_usd_per_1k_requests is not None:
            overall = per_1k("", unit.max_usd_per_1k_requests)
            if overall is not None and overall > unit.max_usd_per_1k_requests:
                failures.append(
                    f"${overall:.4g} per 1k requests, above ${unit.max_usd_per_1k_requests:g}"
                )
        if unit.canary_max_increase_percent is not None and has_canary and dialect.variant_label:
            canary = per_1k(f'{dialect.variant_label}="canary"')
            baseline = per_1k(f'{dialect.variant_label}!="canary"')
            if canary is not None and baseline:
                increase = (canary / baseline - 1) * 100
                if increase > unit.canary_max_increase_percent:
                    failures.append(
                        f"the canary costs {increase:+.0f}% per 1k requests, more "
                        f"than +{unit.canary_max_increase_percent:g}%"
                    )
    except MetricsUnavailable as exc:
        inconclusive.append(f"metrics unavailable: {exc}")
    if failures:
        outcome, reason = Outcome.FAIL, "; ".join(failures)
    elif inconclusive:
        outcome, reason = Outcome.INCONCLUSIVE, "; ".join(inconclusive)
    else:
        outcome, reason = Outcome.PASS, "unit cost within bounds"
    return evaluation(policy, "unit-cost", environment, route, at, outcome, reason, evidence)
