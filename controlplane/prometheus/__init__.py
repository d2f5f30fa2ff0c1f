"""The Prometheus adapter: a client of its HTTP API, and the batching every policy tick uses.
Every failure leaves it as MetricsUnavailable, so a metrics problem is never a verdict."""

from controlplane.prometheus.batching import BatchingSource
from controlplane.prometheus.client import PrometheusClient

__all__ = ["BatchingSource", "PrometheusClient"]
