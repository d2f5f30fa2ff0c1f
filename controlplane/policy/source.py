"""What evaluators need from a metrics backend, as a protocol; the Prometheus client is one."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class MetricSource(Protocol):
    def scalar(self, query: str, at: datetime) -> float | None:
        """The single value of an instant query at `at`; None when it returns no series.

        Raises MetricsUnavailable when the query cannot be answered."""
        ...

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        """An instant vector at `at`, as label value -> sample value."""
        ...


def duration(seconds: float) -> str:
    """PromQL range: whole seconds, at least one."""
    return f"{max(1, round(seconds))}s"
