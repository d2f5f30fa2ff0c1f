"""The Prometheus client (prometheus-api-client): instant queries at an explicit time.

Every failure (connection, timeout, HTTP or PromQL error, an answer of the wrong shape) becomes
MetricsUnavailable, which evaluators turn into an inconclusive result: the scheduler never stops
on a metrics problem.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from controlplane.credentials import resolve_secret
from controlplane.errors import MetricsUnavailable


class PrometheusSource:
    def __init__(self, url: str, timeout: float = 10.0, bearer_token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else None
        # One quick retry: the library's default (3 with 1 s backoff) stalls every policy tick
        # for seconds per query while Prometheus is down; the next tick asks again anyway.
        retry = Retry(total=1, backoff_factor=0.2, status_forcelist=(502, 503, 504))
        self._client = PrometheusConnect(
            url=url, headers=headers, timeout=int(max(timeout, 1)), retry=retry
        )
        self.url = url
        self.queries = 0  # how many queries this source has sent, for benchmarks

    def _query(self, query: str, at: datetime) -> list[dict[str, Any]]:
        self.queries += 1
        try:
            result = self._client.custom_query(query, params={"time": at.timestamp()})
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            raise MetricsUnavailable(f"{self.url}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if not isinstance(result, list):
            raise MetricsUnavailable(f"{self.url}: expected an instant vector for {query}")
        return result

    def scalar(self, query: str, at: datetime) -> float | None:
        series = self._query(query, at)
        if not series:
            return None
        return float(series[0]["value"][1])

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        return {s["metric"].get(label, ""): float(s["value"][1]) for s in self._query(query, at)}

    def series(
        self, query: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[datetime, float]]:
        """A range query's first series as (time, value) points, e.g. to find when a breach
        began."""
        self.queries += 1
        try:
            result = self._client.custom_query_range(
                query, start_time=start, end_time=end, step=f"{max(1, round(step_seconds))}s"
            )
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            raise MetricsUnavailable(f"{self.url}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if not result:
            return []
        return [
            (datetime.fromtimestamp(float(t), start.tzinfo), float(v))
            for t, v in result[0]["values"]
        ]


def connect(url: str, token: str | None = None) -> PrometheusSource:
    """A client for URL; TOKEN is a secret reference (env: or file:), resolved here."""
    return PrometheusSource(url, bearer_token=resolve_secret(token) if token else None)


class BatchingSource:
    """Answers many per-route queries with one query per shape, for one evaluation time.

    Evaluators ask per route: `sum(increase(M{route="a",...}[w]))`. Every route's question of the
    same shape is answered by one query, `sum by (route) (increase(M{route!="",...}[w]))`, whose
    result is kept for the tick; `sum by (le)` becomes `sum by (le, route)`. Queries without the
    route matcher pass through unchanged.
    """

    def __init__(self, inner: PrometheusSource, label: str = "route") -> None:
        self.inner = inner
        self.label = label
        self._route = re.compile(rf'{re.escape(label)}="([^"]*)"')
        self._at: datetime | None = None
        self._cache: dict[str, list[dict[str, Any]]] = {}

    def _batched(self, query: str, at: datetime) -> tuple[list[dict[str, Any]], str] | None:
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
            self._cache[template] = self.inner._query(template, at)
        return self._cache[template], route

    def scalar(self, query: str, at: datetime) -> float | None:
        batched = self._batched(query, at)
        if batched is None:
            return self.inner.scalar(query, at)
        series, route = batched
        for s in series:
            if s["metric"].get(self.label) == route:
                return float(s["value"][1])
        return None

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        batched = self._batched(query, at)
        if batched is None:
            return self.inner.by_label(query, at, label)
        series, route = batched
        return {
            s["metric"].get(label, ""): float(s["value"][1])
            for s in series
            if s["metric"].get(self.label) == route
        }
