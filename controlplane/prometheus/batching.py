"""Many per-route questions answered by one Prometheus query per shape (a tick of policies)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

import numpy as np

from controlplane.policy.source import MinuteValues
from controlplane.prometheus.answers import Sample
from controlplane.prometheus.client import PrometheusClient, minute_count

# Per-minute answers are final once the minute is past; older ones than this are let go.
KEPT_MINUTES = 24 * 60
# A missing stretch of minutes is asked for in pieces, so a restart after hours of canaries does
# not ask Prometheus for one answer of every minute of every route at once.
MINUTES_PER_ASK = 15


class MinuteTable:
    """Per-minute answers of one batched query: a row per series, a column per minute."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], int] = {}
        self.by_route: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        self.columns: dict[int, int] = {}  # minute (Unix seconds) -> column
        self.oldest: int | None = None
        self.values = np.zeros((64, 64))

    def row(self, route: str, key: tuple[str, ...]) -> int:
        found = self.rows.get((route, *key))
        if found is None:
            found = self.rows[(route, *key)] = len(self.rows)
            self.by_route[route].append((key, found))
        return found

    def column(self, minute: int) -> int:
        found = self.columns.get(minute)
        if found is None:
            found = self.columns[minute] = len(self.columns)
            self.oldest = minute if self.oldest is None else min(self.oldest, minute)
        return found

    def put(self, row: int, column: int, value: float) -> None:
        rows, columns = self.values.shape
        if row >= rows or column >= columns:
            grown = np.zeros((max(rows, (row + 1) * 2), max(columns, (column + 1) * 2)))
            grown[:rows, :columns] = self.values
            self.values = grown
        self.values[row, column] = value

    def forget_before(self, minute: int) -> None:
        if self.oldest is None or self.oldest >= minute:
            return
        kept = sorted(m for m in self.columns if m >= minute)
        moved = self.values[:, [self.columns[m] for m in kept]] if kept else self.values[:, :0]
        self.values = np.zeros((self.values.shape[0], max(64, 2 * len(kept))))
        self.values[:, : len(kept)] = moved
        self.columns = {m: i for i, m in enumerate(kept)}
        self.oldest = kept[0] if kept else None


class BatchingSource:
    """Answers many per-route queries with one query per shape.

    Evaluators ask per route: `sum(increase(M{route="a",...}[w]))`. Every route's question of the
    same shape is answered by one query, `sum by (route) (increase(M{route!="",...}[w]))`, whose
    result is kept for the evaluation time; `sum by (le)` becomes `sum by (le, route)`. Queries
    without the route matcher pass through unchanged. Per-minute questions (`minutes`) are asked
    for the expected routes only (`expect`: the routes with a canary, not every route), and kept
    across evaluation times: a past minute's answer does not change, so each tick asks only for
    the minutes it has not seen.
    """

    def __init__(self, inner: PrometheusClient, label: str = "route") -> None:
        self.inner = inner
        self.label = label
        self._route = re.compile(rf'{re.escape(label)}="([^"]*)"')
        self._by = re.compile(r"sum by \(([^)]*)\) \(")
        self._at: datetime | None = None
        self._cache: dict[str, dict[str, list[Sample]]] = {}
        self._tables: dict[str, MinuteTable] = {}
        self._expected: frozenset[str] = frozenset()

    def expect(self, routes: Collection[str]) -> None:
        if frozenset(routes) != self._expected:  # other routes: other questions, asked afresh
            self._expected = frozenset(routes)
            self._tables = {}

    def _template(self, query: str) -> tuple[str, str] | None:
        routes = set(self._route.findall(query))
        if len(routes) != 1:
            return None
        route = routes.pop()
        template = self._by.sub(
            lambda m: f"sum by ({m.group(1)}, {self.label}) (",
            self._route.sub(f'{self.label}!=""', query),
        ).replace("sum(", f"sum by ({self.label}) (")
        return template, route

    def _batched(self, query: str, at: datetime) -> list[Sample] | None:
        found = self._template(query)
        if found is None:
            return None
        template, route = found
        if at != self._at:
            self._at, self._cache = at, {}
        if template not in self._cache:
            by_route: dict[str, list[Sample]] = defaultdict(list)
            for sample in self.inner.vector(template, at):
                by_route[sample.metric.get(self.label, "")].append(sample)
            self._cache[template] = by_route
        return self._cache[template].get(route, [])

    def scalar(self, query: str, at: datetime) -> float | None:
        series = self._batched(query, at)
        if series is None:
            return self.inner.scalar(query, at)
        return self.inner.value_of(series[0]) if series else None

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        series = self._batched(query, at)
        if series is None:
            return self.inner.by_label(query, at, label)
        return {s.metric.get(label, ""): self.inner.value_of(s) for s in series}

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        found = self._template(query)
        count = minute_count(first, last)
        if found is None or count == 0 or found[1] not in self._expected:
            return self.inner.minutes(query, first, last, labels)
        template, route = found
        # Route names are DNS labels: nothing in them needs escaping in a regular expression.
        expected = "|".join(sorted(self._expected))
        template = template.replace(f'{self.label}!=""', f'{self.label}=~"{expected}"')
        table = self._tables.setdefault(template, MinuteTable())
        start = round(first.timestamp())
        wanted = [start + 60 * i for i in range(count)]
        missing = [m for m in wanted if m not in table.columns]
        for i in range(0, len(missing), MINUTES_PER_ASK):
            self._fill(table, template, labels, missing[i : i + MINUTES_PER_ASK], first)
        table.forget_before(wanted[-1] - KEPT_MINUTES * 60)
        series = table.by_route.get(route, [])
        if not series:
            return {}
        columns = [table.columns[m] for m in wanted]
        block = table.values[np.ix_([row for _, row in series], columns)]
        return {key: block[i] for i, (key, _) in enumerate(series)}

    def _fill(
        self,
        table: MinuteTable,
        template: str,
        labels: tuple[str, ...],
        minutes: list[int],
        like: datetime,
    ) -> None:
        """Ask for the stretch from the first to the last of `minutes`, for every route."""
        first = datetime.fromtimestamp(minutes[0], like.tzinfo)
        last = datetime.fromtimestamp(minutes[-1], like.tzinfo)
        answered = self.inner.minutes(template, first, last, (self.label, *labels))
        columns = [table.column(minutes[0] + 60 * i) for i in range(minute_count(first, last))]
        for (route, *key), values in answered.items():
            row = table.row(route, tuple(key))
            for column, value in zip(columns, values, strict=True):
                table.put(row, column, value)

    def series(
        self, query: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[datetime, float]]:
        """Range queries are not batched: each asks about one signal over time."""
        return self.inner.series(query, start, end, step_seconds)
