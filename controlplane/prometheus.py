"""The Prometheus client (prometheus-api-client): instant queries at an explicit time.

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

from controlplane.errors import MetricsUnavailable


class PrometheusSource:
    def __init__(self, url: str, timeout: float = 10.0, bearer_token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else None
        self._client = PrometheusConnect(url=url, headers=headers, timeout=int(max(timeout, 1)))
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
