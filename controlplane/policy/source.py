"""What evaluators need from a metrics backend, as a protocol; the Prometheus client is one."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

# One value per whole minute, per series (keyed by the values of the labels asked for).
MinuteValues = dict[tuple[str, ...], npt.NDArray[np.float64]]


class MetricSource(Protocol):
    def scalar(self, query: str, at: datetime) -> float | None:
        """The single value of an instant query at `at`; None when it returns no series.

        Raises MetricsUnavailable when the query cannot be answered."""
        ...

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        """An instant vector at `at`, as label value -> sample value."""
        ...

    def expect(self, routes: Collection[str]) -> None:
        """A hint: per-minute questions will be about these routes (the ones with a canary), so
        a source that batches can ask about them alone rather than about every route."""
        ...

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        """`query` at every whole minute from `first` to `last` (both included), per value of
        `labels`: one array of values per series, 0 where it has no sample."""
        ...


def duration(seconds: float) -> str:
    """PromQL range: whole seconds, at least one."""
    return f"{max(1, round(seconds))}s"
