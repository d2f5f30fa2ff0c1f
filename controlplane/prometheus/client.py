"""The Prometheus client (httpx): instant and range queries at explicit times, over the HTTP API.

Every failure (connection, timeout, an HTTP or PromQL error, an answer of the wrong shape:
`"status": "error"` with a 200, a sample without its labels, a value that is not a number)
becomes MetricsUnavailable with one short reason, which evaluators turn into an inconclusive
result: the scheduler never stops, and never logs a traceback, on a metrics problem.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from datetime import datetime

import httpx
import numpy as np
from pydantic import ValidationError

from controlplane.answers import misfit
from controlplane.errors import MetricsUnavailable
from controlplane.policy.source import MinuteValues
from controlplane.prometheus.answers import MatrixData, QueryAnswer, Sample, ScalarData, Series

RETRIED_STATUSES = frozenset({502, 503, 504})
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a tick's batched answer for thousands of routes fits


class PrometheusClient:
    def __init__(
        self,
        url: str,
        timeout: float = 10.0,
        bearer_token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self._client = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )
        self.url = url
        self.queries = 0  # how many queries this source has sent, for benchmarks

    def close(self) -> None:
        self._client.close()

    def _ask(self, path: str, form: dict[str, str]) -> QueryAnswer:
        """POST a query (long PromQL fits in a form, not always in a URL); one quick retry on a
        connection failure or 502/503/504: the next tick asks again anyway."""
        self.queries += 1
        for attempt in (1, 2):
            try:
                response = self._client.post(path, data=form)
            except httpx.HTTPError as exc:
                if attempt == 1:
                    time.sleep(0.2)
                    continue
                raise MetricsUnavailable(f"{self.url}: {type(exc).__name__}") from exc
            if response.status_code in RETRIED_STATUSES and attempt == 1:
                time.sleep(0.2)
                continue
            return self._parse(response, form["query"])
        raise AssertionError("unreachable")  # the second attempt returns or raises

    def _parse(self, response: httpx.Response, query: str) -> QueryAnswer:
        if len(response.content) > MAX_ANSWER_BYTES:
            raise MetricsUnavailable(f"{self.url}: an answer of {len(response.content)} bytes")
        try:
            answer = QueryAnswer.model_validate_json(response.content)
        except ValidationError as exc:
            raise MetricsUnavailable(
                f"{self.url}: HTTP {response.status_code}, not a Prometheus answer ({misfit(exc)})"
            ) from exc
        if answer.status == "error" or answer.data is None:
            reason = f"{answer.error_type}: {answer.error}" if answer.error else "no data"
            raise MetricsUnavailable(
                f"{self.url}: HTTP {response.status_code}, {reason[:300]} (query: {query[:200]})"
            )
        return answer

    def vector(self, query: str, at: datetime) -> list[Sample]:
        """An instant query's samples (a scalar answer is one sample without labels)."""
        data = self._ask("/api/v1/query", {"query": query, "time": _unix(at)}).data
        if isinstance(data, MatrixData):
            raise MetricsUnavailable(f"{self.url}: a range answer to an instant query: {query}")
        if isinstance(data, ScalarData):
            return [Sample(metric={}, value=data.result)]
        assert data is not None
        return data.result

    def scalar(self, query: str, at: datetime) -> float | None:
        samples = self.vector(query, at)
        return self.value_of(samples[0]) if samples else None

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        return {s.metric.get(label, ""): self.value_of(s) for s in self.vector(query, at)}

    def value_of(self, sample: Sample) -> float:
        """A sample's value as a number (NaN and ±Inf included); MetricsUnavailable otherwise."""
        return _number(sample.value[1], self.url)

    def matrix(
        self, query: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[Series]:
        """A range query's series."""
        form = {
            "query": query,
            "start": _unix(start),
            "end": _unix(end),
            "step": f"{max(1, round(step_seconds))}s",
        }
        data = self._ask("/api/v1/query_range", form).data
        if not isinstance(data, MatrixData):
            raise MetricsUnavailable(f"{self.url}: not a range answer to: {query[:200]}")
        return data.result

    def series(
        self, query: str, start: datetime, end: datetime, step_seconds: float
    ) -> list[tuple[datetime, float]]:
        """A range query's first series as (time, value) points, e.g. to find when a breach
        began."""
        found = self.matrix(query, start, end, step_seconds)
        if not found:
            return []
        return [(_time(t, start, self.url), _number(v, self.url)) for t, v in found[0].values]

    def expect(self, routes: Collection[str]) -> None:
        """Nothing to prepare: each question is asked as it comes."""

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        """`query` at each whole minute from `first` to `last`, per value of `labels` (0 where a
        series has no sample)."""
        count = minute_count(first, last)
        found: MinuteValues = {}
        if count == 0:
            return found
        origin = first.timestamp()
        for series in self.matrix(query, first, last, 60):
            key = tuple(series.metric.get(label, "") for label in labels)
            values = found.get(key)
            if values is None:
                values = found[key] = np.zeros(count)
            for t, v in series.values:
                index = round((t - origin) / 60)
                if 0 <= index < count:
                    values[index] += _number(v, self.url)
        return found


def minute_count(first: datetime, last: datetime) -> int:
    """Whole minutes from `first` to `last`, both included; 0 when `last` is before `first`."""
    return max(0, round((last - first).total_seconds() / 60) + 1)


def _unix(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _time(seconds: float, like: datetime, url: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, like.tzinfo)
    except (ValueError, OverflowError, OSError) as exc:
        raise MetricsUnavailable(f"{url}: a sample time that is not a time: {seconds}") from exc


def _number(text: str, url: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise MetricsUnavailable(
            f"{url}: a sample value that is not a number: {text[:40]!r}"
        ) from exc
