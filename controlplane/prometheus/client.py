"""The Prometheus client (prometheus-api-client): instant and range queries at explicit times.

Every failure (connection, timeout, HTTP or PromQL error, an answer of the wrong shape) becomes
MetricsUnavailable, which evaluators turn into an inconclusive result: the scheduler never stops
on a metrics problem.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from controlplane.errors import MetricsUnavailable


class PrometheusClient:
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

    def vector(self, query: str, at: datetime) -> list[dict[str, Any]]:
        self.queries += 1
        try:
            result = self._client.custom_query(query, params={"time": at.timestamp()})
        except (PrometheusApiClientException, requests.RequestException, ValueError) as exc:
            raise MetricsUnavailable(f"{self.url}: {type(exc).__name__}: {str(exc)[:200]}") from exc
        if not isinstance(result, list):
            raise MetricsUnavailable(f"{self.url}: expected an instant vector for {query}")
        return result

    def scalar(self, query: str, at: datetime) -> float | None:
        series = self.vector(query, at)
        if not series:
            return None
        return float(series[0]["value"][1])

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        return {s["metric"].get(label, ""): float(s["value"][1]) for s in self.vector(query, at)}

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
