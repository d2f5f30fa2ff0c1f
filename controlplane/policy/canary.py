"""Canary analysis: the canary arm against the baseline, on the evidence gathered since the
canary went live, minute by minute.

The design (README, "How canary verdicts are reached"):
- Evidence accumulates from the canary's start: every whole minute since the time its current
  configuration went live, the same minutes for both arms, each minute compared within itself.
- The policy's alpha is its family-wise false-failure rate: split evenly over its checks, and each
  check's share spent over the looks (one per interval since the start) by the correction's
  spending function, so testing every minute does not add up past it.
- Each check has three verdicts. FAIL when the canary is shown worse than the allowed increase,
  PASS when it is shown within it, INCONCLUSIVE otherwise (and always before `minSamplesPerArm`
  requests in each arm). Shown worse than the critical increase marks the failure critical.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from controlplane.errors import MetricsUnavailable
from controlplane.policy.dialects import Dialect
from controlplane.policy.model import Evaluation, Evidence, Outcome, combine, evaluation
from controlplane.policy.source import MetricSource, MinuteValues
from controlplane.policy.stats import (
    Counts,
    auc_p,
    look_alpha,
    odds_margin,
    quantile_from_buckets,
    score_matrix,
    stratified_auc,
    stratified_error_p,
)
from controlplane.spec import DesiredState, Route
from controlplane.spec.policy import CanaryAnalysis, FeedbackCheck, LatencyCheck

# A minute is read once Prometheus has surely scraped its end.
SETTLE = timedelta(seconds=30)
CANARY = "canary"


def canary_identity(state: DesiredState, route: Route) -> str:
    """What the canary's evidence is about: the route's arms (canary, default model, variants,
    stickiness) and the full spec of every Model in them. Evidence restarts when this changes,
    and only then: an apply elsewhere in the environment leaves it as it is."""
    spec = route.spec
    arms = {spec.model, *(v.model for v in spec.variants)}
    if spec.canary is not None:
        arms.add(spec.canary.model)
    known = state.models_by_name
    models = {name: known[name].spec.model_dump(mode="json") for name in arms if name in known}
    document = {
        "route": route.name,
        "canary": spec.canary.model_dump(mode="json") if spec.canary else None,
        "model": spec.model,
        "variants": [v.model_dump(mode="json") for v in spec.variants],
        "stickiness": spec.stickiness.model_dump(mode="json") if spec.stickiness else None,
        "models": models,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Look:
    """Which minutes an evaluation reads, and how much alpha each check may spend on them."""

    started: datetime
    first: datetime  # end of the first whole minute after the start
    last: datetime  # end of the last whole minute that is settled and within the horizon
    number: int | None  # None: one fixed test (no start known)
    alpha: float  # per check, at this look

    @property
    def minutes(self) -> int:
        return max(0, round((self.last - self.first).total_seconds() / 60) + 1)


def plan_look(policy: CanaryAnalysis, at: datetime, started: datetime | None) -> Look:
    spec = policy.spec
    horizon = spec.interval * spec.max_looks
    checks = len(spec.latency) + (spec.errors is not None) + (spec.feedback is not None)
    share = spec.alpha / max(checks, 1)
    number: int | None
    if started is None:  # asked by hand, no start known: one test over the horizon
        started, number = at - horizon, None
    else:
        number = max(1, math.floor((at - started) / spec.interval))
    first = _minute_at_or_after(started) + timedelta(minutes=1)
    last = min(_minute_at_or_before(at - SETTLE), _minute_at_or_before(started + horizon))
    alpha = look_alpha(share, number, spec.max_looks, spec.correction)
    return Look(started, first, last, number, alpha)


def _minute_at_or_before(at: datetime) -> datetime:
    return datetime.fromtimestamp(math.floor(at.timestamp() / 60) * 60, at.tzinfo)


def _minute_at_or_after(at: datetime) -> datetime:
    return datetime.fromtimestamp(math.ceil(at.timestamp() / 60) * 60, at.tzinfo)


def increments(metric: str, matchers: str, by: str) -> str:
    """PromQL: how much a counter grew in the minute before the evaluation time, summed by `by`.

    Exact counts, not `increase()`'s extrapolation: the difference from a minute before, or the
    whole value for a series that began (or restarted from zero) within the minute."""
    s = f"{metric}{{{matchers}}}"
    return f"sum by ({by}) ((({s} - {s} offset 1m) >= 0) or {s})"


def _per_arm(found: MinuteValues, minutes: int) -> tuple[Counts, Counts]:
    """Per-minute totals of the canary and of every other variant (the baseline)."""
    canary, baseline = np.zeros(minutes), np.zeros(minutes)
    for (variant, *_), values in found.items():
        arm = canary if variant == CANARY else baseline
        arm += values
    return canary, baseline


def _histograms(found: MinuteValues, minutes: int) -> tuple[list[float], Counts, Counts]:
    """(bucket bounds, canary counts, baseline counts), minutes x buckets, not cumulative."""
    bounds = sorted({float(le) for _, le in found})
    index = {b: i for i, b in enumerate(bounds)}
    canary, baseline = np.zeros((minutes, len(bounds))), np.zeros((minutes, len(bounds)))
    for (variant, le), values in found.items():
        arm = canary if variant == CANARY else baseline
        arm[:, index[float(le)]] += values
    per_bucket = [np.clip(np.diff(a, axis=1, prepend=0.0), 0.0, None) for a in (canary, baseline)]
    return bounds, per_bucket[0], per_bucket[1]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    critical: bool
    reason: str


def _verdict(
    name: str,
    alpha: float,
    p_worse: float,
    p_within: Callable[[], float],
    p_critical: Callable[[], float],
    allowed: str,
    estimate: str,
) -> Verdict:
    """Shown worse than allowed, shown within it, or not shown either way, at this look's alpha.
    The other two p-values are asked for only when they decide something."""
    if p_worse < alpha:
        critical = p_critical() < alpha
        worse = "the critical increase" if critical else allowed
        return Verdict(Outcome.FAIL, critical, f"{name} {estimate}: shown worse than {worse}")
    if p_within() < alpha:
        return Verdict(Outcome.PASS, False, f"{name} {estimate}: shown within {allowed}")
    return Verdict(Outcome.INCONCLUSIVE, False, f"{name} {estimate}: not yet shown either way")


def evaluate_canary(
    policy: CanaryAnalysis,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    route: str,
    at: datetime,
    started: datetime | None = None,
) -> Evaluation:
    """The canary of `route` against its baseline at `at`, on the minutes since `started` (the
    time the canary's current configuration went live; None when unknown: one fixed test over
    the policy's horizon, at each check's full share of alpha)."""
    spec = policy.spec
    look = plan_look(policy, at, started)

    def result(
        outcome: Outcome, reason: str, evidence: list[Evidence], critical: bool = False
    ) -> Evaluation:
        return evaluation(
            policy, "canary", environment, route, at, outcome, reason, evidence, critical
        )

    if not dialect.variant_label:
        return result(Outcome.INCONCLUSIVE, f"the {dialect.name} dialect has no arm label", [])
    if look.minutes == 0:
        return result(
            Outcome.INCONCLUSIVE,
            f"the canary went live at {look.started:%H:%M:%S}; its first whole minute is not "
            "over yet",
            [],
        )
    selector = f'{dialect.route_label}="{route}"'
    by = dialect.variant_label
    ended = ""
    if look.number is not None and look.number > spec.max_looks:  # no alpha left: no verdict
        ended = f"the analysis ended after {spec.max_looks} looks without a verdict; "
    window = f"{look.minutes}m since {look.started:%Y-%m-%dT%H:%M:%SZ}"
    evidence: list[Evidence] = []
    try:
        totals_q = increments(dialect.requests, selector, by)
        found = source.minutes(totals_q, look.first, look.last, (by,))
        canary_n, baseline_n = _per_arm(found, look.minutes)
        n_c, n_b = float(canary_n.sum()), float(baseline_n.sum())
        evidence.append(
            Evidence(
                name="requests since the canary went live (canary, baseline)",
                query=totals_q,
                value=n_c,
                threshold=float(spec.min_samples_per_arm),
                window=window,
                samples=n_c + n_b,
                note=f"baseline {n_b:.0f}",
            )
        )
        if min(n_c, n_b) < spec.min_samples_per_arm:
            reason = _too_few(n_c, n_b, spec.min_samples_per_arm, look, at)
            return result(Outcome.INCONCLUSIVE, ended + reason, evidence)
        verdicts = [
            _latency(check, dialect, source, selector, look, window, evidence)
            for check in spec.latency
        ]
        if spec.errors is not None and dialect.errors:
            errors_q = increments(dialect.requests, f"{selector},{dialect.errors}", by)
            bad = source.minutes(errors_q, look.first, look.last, (by,))
            canary_bad, baseline_bad = _per_arm(bad, look.minutes)
            verdicts.append(
                _proportions(
                    ERRORS,
                    spec.errors.allowed_increase_points,
                    spec.errors.critical_increase_points,
                    (canary_bad, canary_n, baseline_bad, baseline_n),
                    look,
                    window,
                    errors_q,
                    _error_ratio(dialect, selector),
                    evidence,
                )
            )
        if spec.feedback is not None:
            verdicts.append(
                _feedback(spec.feedback, dialect, source, selector, look, window, evidence)
            )
    except MetricsUnavailable as exc:
        return result(Outcome.INCONCLUSIVE, f"metrics unavailable: {exc}", evidence)
    outcome = combine([v.outcome for v in verdicts])
    critical = any(v.critical for v in verdicts)
    look_name = f"look {look.number}/{spec.max_looks}" if look.number else "one fixed test"
    reason = "; ".join(v.reason for v in verdicts) + f" ({look_name}, alpha {look.alpha:.2g})"
    return result(outcome, ended + reason, evidence, critical)


def _error_ratio(dialect: Dialect, selector: str) -> str:
    """PromQL of an arm's error ratio over 5 minutes, ARM standing for its variant matcher."""
    return _ratio(dialect.requests, dialect.errors, selector, dialect.variant_label)


def _ratio(counter: str, bad: str, selector: str, variant: str) -> str:
    """PromQL of an arm's share of `bad` events over 5 minutes, ARM standing for its variant
    matcher."""
    arm = f"{selector},{variant}ARM"
    return f"(sum(rate({counter}{{{arm},{bad}}}[5m])) / sum(rate({counter}{{{arm}}}[5m])))"


@dataclass(frozen=True)
class _Proportion:
    """A share of bad events compared between arms: errors of requests, thumbs down of ratings."""

    check: str
    evidence: str
    what: str  # the events counted, for the note


ERRORS = _Proportion("errors", "error ratio increase (points)", "requests")
THUMBS_DOWN = _Proportion("thumbs-down", "thumbs-down ratio increase (points)", "ratings")


def _feedback(
    check: FeedbackCheck,
    dialect: Dialect,
    source: MetricSource,
    selector: str,
    look: Look,
    window: str,
    evidence: list[Evidence],
) -> Verdict:
    if not dialect.feedback:
        return Verdict(
            Outcome.INCONCLUSIVE, False, f"thumbs-down: the {dialect.name} dialect has no feedback"
        )
    by = dialect.variant_label
    down = 'rating="down"'
    rated_q = increments(dialect.feedback, selector, by)
    down_q = increments(dialect.feedback, f"{selector},{down}", by)
    rated_c, rated_b = _per_arm(source.minutes(rated_q, look.first, look.last, (by,)), look.minutes)
    down_c, down_b = _per_arm(source.minutes(down_q, look.first, look.last, (by,)), look.minutes)
    if min(rated_c.sum(), rated_b.sum()) == 0:
        return Verdict(Outcome.INCONCLUSIVE, False, "thumbs-down: no ratings in an arm yet")
    return _proportions(
        THUMBS_DOWN,
        check.allowed_increase_points,
        check.critical_increase_points,
        (down_c, rated_c, down_b, rated_b),
        look,
        window,
        down_q,
        _ratio(dialect.feedback, down, selector, by),
        evidence,
    )


def points_of(counts: tuple[Counts, Counts, Counts, Counts]) -> float:
    """The canary's error ratio minus the baseline's, in percentage points."""
    canary_bad, canary_n, baseline_bad, baseline_n = counts
    return float(canary_bad.sum() / canary_n.sum() - baseline_bad.sum() / baseline_n.sum()) * 100


def _too_few(n_c: float, n_b: float, minimum: int, look: Look, at: datetime) -> str:
    """Why there is no verdict yet, and when there will be enough requests at the current rate."""
    text = (
        f"{n_c:.0f} canary and {n_b:.0f} baseline requests in {look.minutes}m since the canary "
        f"went live, fewer than {minimum} per arm"
    )
    if look.number is not None and look.alpha == 0:
        return text
    waits = [
        (minimum - n) / (n / look.minutes) if n > 0 else math.inf for n in (n_c, n_b) if n < minimum
    ]
    wait = max(waits)
    if math.isinf(wait):
        return text + "; no traffic in an arm yet"
    ready = at + timedelta(minutes=math.ceil(wait))
    return text + f"; enough in about {math.ceil(wait)}m at the current rate ({ready:%H:%M} UTC)"


def _latency(
    check: LatencyCheck,
    dialect: Dialect,
    source: MetricSource,
    selector: str,
    look: Look,
    window: str,
    evidence: list[Evidence],
) -> Verdict:
    base = dialect.histogram(check.metric)
    by = f"{dialect.variant_label}, le"
    query = increments(f"{base}_bucket", selector, by)
    found = source.minutes(query, look.first, look.last, (dialect.variant_label, "le"))
    if not found:
        return Verdict(Outcome.INCONCLUSIVE, False, f"{check.metric}: no samples")
    bounds, canary, baseline = _histograms(found, look.minutes)
    allowed = check.allowed_increase_percent / 100
    auc, se = stratified_auc(canary, baseline, score_matrix(bounds, allowed))
    p_worse, p_within = auc_p(auc, se, greater=True), auc_p(auc, se, greater=False)

    def p_critical() -> float:
        scores = score_matrix(bounds, check.critical_increase_percent / 100)
        return auc_p(*stratified_auc(canary, baseline, scores), greater=True)

    median_c = quantile_from_buckets(bounds, canary.sum(axis=0).tolist(), 0.5) or 0.0
    median_b = quantile_from_buckets(bounds, baseline.sum(axis=0).tolist(), 0.5) or 0.0
    increase = (median_c / median_b - 1) * 100 if median_b > 0 else math.inf
    rate = f"sum by (le) (rate({base}_bucket{{{selector},{dialect.variant_label}"
    evidence.append(
        Evidence(
            name=f"{check.metric} median increase (%)",
            query=query,
            value=increase,
            threshold=check.allowed_increase_percent,
            window=window,
            samples=float(canary.sum() + baseline.sum()),
            signal=f'histogram_quantile(0.5, {rate}="{CANARY}"}}[5m]))) / '
            f'histogram_quantile(0.5, {rate}!="{CANARY}"}}[5m]))) * 100 - 100',
            note=f"canary median {median_c:.4g}s, baseline {median_b:.4g}s; "
            f"P(canary/{1 + allowed:g} slower) = {auc:.3f} ± {se:.3f}, "
            f"p(worse)={p_worse:.3g}, p(within)={p_within:.3g} vs alpha {look.alpha:.3g}",
        )
    )
    return _verdict(
        check.metric,
        look.alpha,
        p_worse,
        lambda: p_within,
        p_critical,
        f"+{check.allowed_increase_percent:g}%",
        f"median {increase:+.1f}%",
    )


def _proportions(
    kind: _Proportion,
    allowed_points: float,
    critical_points: float,
    counts: tuple[Counts, Counts, Counts, Counts],
    look: Look,
    window: str,
    query: str,
    query_rate: str,
    evidence: list[Evidence],
) -> Verdict:
    canary_bad, canary_n, baseline_bad, baseline_n = counts
    # The baseline's ratio sets the odds ratio that `points` means; half an error of prior keeps
    # an error-free baseline from making any canary error infinitely worse.
    prior = (float(baseline_bad.sum()) + 0.5) / (float(baseline_n.sum()) + 1)
    allowed = odds_margin(prior, allowed_points)
    p_worse = stratified_error_p(*counts, odds=allowed, greater=True)
    asked: dict[str, float] = {"worse": p_worse}

    def p_within() -> float:
        asked["within"] = stratified_error_p(*counts, odds=allowed, greater=False)
        return asked["within"]

    def p_critical() -> float:
        critical = odds_margin(prior, critical_points)
        asked["critical"] = stratified_error_p(*counts, odds=critical, greater=True)
        return asked["critical"]

    points = points_of(counts)
    verdict = _verdict(
        kind.check,
        look.alpha,
        p_worse,
        p_within,
        p_critical,
        f"+{allowed_points:g} points",
        f"{'up' if points >= 0 else 'down'} {abs(points):.2f} points",
    )
    arms = [query_rate.replace("ARM", arm) for arm in (f'="{CANARY}"', f'!="{CANARY}"')]
    evidence.append(
        Evidence(
            name=kind.evidence,
            query=query,
            value=points,
            threshold=allowed_points,
            window=window,
            samples=float(canary_n.sum() + baseline_n.sum()),
            signal=f"({arms[0]} - {arms[1]}) * 100",
            note=f"canary {canary_bad.sum():.0f}/{canary_n.sum():.0f} {kind.what}, baseline "
            f"{baseline_bad.sum():.0f}/{baseline_n.sum():.0f}; exact test by minute: "
            + ", ".join(f"p({k})={v:.3g}" for k, v in asked.items())
            + f" vs alpha {look.alpha:.3g}",
        )
    )
    return verdict
