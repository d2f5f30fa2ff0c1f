"""SLO objectives by multi-window, multi-burn-rate alerting (SRE Workbook, ch. 5; as Sloth).

For each (long, short, factor) pair, the burn rate is the bad-event ratio over the window divided
by the error budget (1 - target). A page-severity pair breaches when both windows burn faster
than the factor: the long window shows it is significant, the short one that it is still going
on. A window with fewer events than `minEvents` gives no verdict.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controlplane.errors import MetricsUnavailable
from controlplane.policy.dialects import Dialect
from controlplane.policy.model import Evaluation, Evidence, Outcome, evaluation
from controlplane.policy.source import MetricSource, duration
from controlplane.spec.base import format_duration
from controlplane.spec.policy import (
    BurnRateWindow,
    ErrorSli,
    FeedbackSli,
    LatencySli,
    Objective,
    QuerySli,
    Severity,
    SLOPolicy,
)

PRESET_30D = (
    BurnRateWindow(long=timedelta(hours=1), short=timedelta(minutes=5), factor=14.4),
    BurnRateWindow(long=timedelta(hours=6), short=timedelta(minutes=30), factor=6),
    BurnRateWindow(
        long=timedelta(days=3), short=timedelta(hours=6), factor=1, severity=Severity.TICKET
    ),
)


def burn_windows(objective: Objective) -> tuple[BurnRateWindow, ...]:
    """The objective's burn-rate window pairs: its own, or the 30d preset's."""
    return tuple(objective.burn_rate.windows) or PRESET_30D


def sli_queries(
    sli: ErrorSli | LatencySli | QuerySli | FeedbackSli,
    dialect: Dialect,
    route: str,
    window: timedelta,
) -> tuple[str, str]:
    """(bad events, all events) over `window`, as PromQL."""
    w = duration(window.total_seconds())
    selector = f'{dialect.route_label}="{route}"'
    match sli:
        case ErrorSli():
            if not dialect.errors:
                raise MetricsUnavailable(f"the {dialect.name} dialect has no error label")
            total = f"sum(increase({dialect.requests}{{{selector}}}[{w}]))"
            bad = f"sum(increase({dialect.requests}{{{selector},{dialect.errors}}}[{w}]))"
        case LatencySli():
            base = dialect.histogram(sli.metric)
            le = repr(sli.threshold.total_seconds())
            total = f"sum(increase({base}_count{{{selector}}}[{w}]))"
            good = f'sum(increase({base}_bucket{{{selector},le="{le}"}}[{w}]))'
            bad = f"({total} - {good})"
        case QuerySli():
            bad = sli.bad_query.replace("$window", w)
            total = sli.total_query.replace("$window", w)
        case FeedbackSli():  # thumbs: bad = down, all = up and down
            if not dialect.feedback:
                raise MetricsUnavailable(f"the {dialect.name} dialect has no feedback metric")
            total = f"sum(increase({dialect.feedback}{{{selector}}}[{w}]))"
            bad = f'sum(increase({dialect.feedback}{{{selector},rating="down"}}[{w}]))'
    return bad, total


def evaluate_objective(
    policy: SLOPolicy,
    objective: Objective,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    route: str,
    at: datetime,
) -> Evaluation:
    budget = 1 - objective.target / 100
    windows = burn_windows(objective)
    evidence: list[Evidence] = []
    page_outcomes: list[Outcome] = []
    reasons: list[str] = []
    try:
        for pair in windows:
            burns: list[float | None] = []
            for window in (pair.long, pair.short):
                bad_q, total_q = sli_queries(objective.sli, dialect, route, window)
                total = source.scalar(total_q, at)
                bad = source.scalar(bad_q, at) if total else 0.0
                enough = total is not None and total >= objective.min_events
                burn = (max(bad or 0.0, 0.0) / total / budget) if enough and total else None
                burns.append(burn)
                evidence.append(
                    Evidence(
                        name=f"burn rate over {format_duration(window)}",
                        query=bad_q + " / " + total_q,
                        value=burn,
                        threshold=pair.factor,
                        window=format_duration(window),
                        samples=total,
                        signal=f"({bad_q}) / ({total_q}) / {budget!r}",
                        note=f"{pair.severity.value}"
                        + ("" if enough else f"; fewer than {objective.min_events} events"),
                    )
                )
            label = (
                f"{format_duration(pair.long)}/{format_duration(pair.short)} at {pair.factor:g}x"
            )
            if any(b is None for b in burns):
                outcome = Outcome.INCONCLUSIVE
                reasons.append(f"{label}: too few events")
            elif all(b is not None and b > pair.factor for b in burns):
                outcome = Outcome.FAIL
                reasons.append(f"{label}: burning at {burns[0]:.1f}x and {burns[1]:.1f}x")
            else:
                outcome = Outcome.PASS
            if pair.severity is Severity.PAGE:
                page_outcomes.append(outcome)
            elif outcome is Outcome.FAIL:
                reasons.append(f"{label}: ticket only, not a failure")
    except MetricsUnavailable as exc:
        return evaluation(
            policy,
            f"objective/{objective.name}",
            environment,
            route,
            at,
            Outcome.INCONCLUSIVE,
            f"metrics unavailable: {exc}",
            evidence,
        )
    if Outcome.FAIL in page_outcomes:
        outcome = Outcome.FAIL
    elif Outcome.INCONCLUSIVE in page_outcomes or not page_outcomes:
        outcome = Outcome.INCONCLUSIVE
    else:
        outcome = Outcome.PASS
    reason = (
        "; ".join(reasons)
        or f"every page window burns below its factor (target {objective.target:g}%)"
    )
    return evaluation(
        policy, f"objective/{objective.name}", environment, route, at, outcome, reason, evidence
    )
