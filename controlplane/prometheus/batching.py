"""Many per-route questions answered by one Prometheus query per shape (a tick of policies)."""

from __future__ import annotations

import re
from datetime import datetime

from controlplane.prometheus.answers import Sample
from controlplane.prometheus.client import PrometheusClient


class BatchingSource:
    """Answers many per-route queries with one query per shape, for one evaluation time.

    Evaluators ask per route: `sum(increase(M{route="a",...}[w]))`. Every route's question of the
    same shape is answered by one query, `sum by (route) (increase(M{route!="",...}[w]))`, whose
    result is kept for the tick; `sum by (le)` becomes `sum by (le, route)`. Queries without the
    route matcher pass through unchanged.
    """

    def __init__(self, inner: PrometheusClient, label: str = "route") -> None:
        self.inner = inner
        self.label = label
        self._route = re.compile(rf'{re.escape(label)}="([^"]*)"')
        self._at: datetime | None = None
        self._cache: dict[str, list[Sample]] = {}

    def _batched(self, query: str, at: datetime) -> tuple[list[Sample], str] | None:
        routes = set(self._route.findall(query))
        if len(routes) != 1:
            return None
        route = routes.pop()
        template = (
            self._route.sub(f'{self.label}!=""', query)
            .replace("sum(", f"sum by ({self.label}) (")
            .replace("sum by (le) (", f"sum by (le, {self.label}) (")
        )
        if at != self._at:
            self._at, self._cache = at, {}
        if template not in self._cache:
            self._cache[template] = self.inner.vector(template, at)
        return self._cache[template], route

    def scalar(self, query: str, at: datetime) -> float | None:
        batched = self._batched(query, at)
        if batched is None:
            return self.inner.scalar(query, at)
        series, route = batched
        for s in series:
            if s.metric.get(self.label) == route:
                return self.inner.value_of(s)
        return None

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        batched = self._batched(query, at)
        if batched is None:
            return self.inner.by_label(query, at, label)
        series, route = batched
        return {
            s.metric.get(label, ""): self.inner.value_of(s)
            for s in series
            if s.metric.get(self.label) == route
        }

    def series(
        self, query: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[datetime, float]]:
        """Range queries are not batched: each asks about one signal over time."""
        return self.inner.series(query, start, end, step_seconds)
