"""When a breach began: the earliest onset of the failing evidence's signals in a range query of
Prometheus, or, without one, the first of the consecutive failing evaluations in the history."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from controlplane.errors import MetricsUnavailable
from controlplane.history import HistoryReader
from controlplane.policy import Evaluation, Outcome
from controlplane.rollback.attribution import onset
from controlplane.rollback.proposal import BreachStart

log = logging.getLogger("controlplane.rollback")
LOOKBACK = timedelta(hours=6)  # how far back a breach start is searched
COARSE_STEP = 15.0  # seconds; then refined to 1 s around the crossing


class SeriesSource(Protocol):
    def series(
        self, query: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[datetime, float]]:
        """A range query's first series as (time, value) points."""
        ...


def breach_start(
    evaluation: Evaluation, source: SeriesSource | None, history: HistoryReader
) -> BreachStart:
    onsets = _onsets(evaluation, source) if source is not None else []
    if onsets:
        at, name = min(onsets)
        return BreachStart(at=at, how=f"range query of {name} crossing its threshold")
    failing = history.evaluations(
        evaluation.policy,
        limit=1000,
        environment=evaluation.environment,
        check=evaluation.check,
        route=evaluation.route,
    )
    first = evaluation.at
    for earlier in failing:
        if earlier.outcome is not Outcome.FAIL:
            break
        first = min(first, earlier.at)
    return BreachStart(at=first, how="first of the consecutive failing evaluations")


def _onsets(evaluation: Evaluation, source: SeriesSource) -> list[tuple[datetime, str]]:
    """(onset, evidence name) of each breaching piece of evidence that has a signal."""
    found = []
    for item in evaluation.evidence:
        if not item.signal or item.threshold is None or item.value is None:
            continue
        if not item.value > item.threshold:
            continue
        try:
            start = _onset(source, item.signal, item.threshold, evaluation.at)
        except MetricsUnavailable as exc:
            log.warning("breach start: %s", exc)
            continue
        if start is not None:
            found.append((start, item.name))
    return found


def _onset(source: SeriesSource, signal: str, threshold: float, at: datetime) -> datetime | None:
    coarse = source.series(signal, at - LOOKBACK, at, COARSE_STEP)
    start = onset(coarse, threshold)
    if start is None or start <= coarse[0][0]:
        return start
    fine = source.series(signal, start - timedelta(seconds=COARSE_STEP), start, 1)
    return onset(fine, threshold) or start
