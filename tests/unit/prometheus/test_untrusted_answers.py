"""Prometheus answers are untrusted: every malformed answer makes a policy INCONCLUSIVE with one
short reason, never a crash. The answers come from a labelled STAND-IN transport (httpx's
MockTransport): a real Prometheus cannot be made to answer like this on demand."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from controlplane.errors import MetricsUnavailable
from controlplane.policy import Outcome, evaluate_state
from controlplane.prometheus import BatchingSource, PrometheusClient
from controlplane.spec import DesiredState, Environment, Route
from controlplane.spec.policy import SLOPolicy

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
V = "controlplane.dev/v1alpha1"


def answering(status: int, body: bytes | str) -> PrometheusClient:
    """A client whose every query gets this answer (STAND-IN for a misbehaving Prometheus)."""
    content = body.encode() if isinstance(body, str) else body
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=content))
    return PrometheusClient("http://prometheus.stand-in", timeout=1, transport=transport)


def ok(data: Any) -> str:
    return json.dumps({"status": "success", "data": data})


MALFORMED = {
    "status error with 200": (
        200,
        '{"status":"error","errorType":"bad_data","error":"parse error"}',
    ),
    "not JSON": (200, "<html>gateway timeout</html>"),
    "empty": (200, ""),
    "no status": (200, '{"data": {"resultType": "vector", "result": []}}'),
    "result not a list": (200, ok({"resultType": "vector", "result": "x"})),
    "value not a number": (
        200,
        ok(
            {"resultType": "vector", "result": [{"metric": {"route": "chat"}, "value": [1, "abc"]}]}
        ),
    ),
    "value not a pair": (200, ok({"resultType": "vector", "result": [{"metric": {}, "value": 5}]})),
    "labels not strings": (
        200,
        ok({"resultType": "vector", "result": [{"metric": {"a": [1]}, "value": [1, "2"]}]}),
    ),
    "unknown result type": (200, ok({"resultType": "streams", "result": []})),
    "a range answer": (200, ok({"resultType": "matrix", "result": []})),
    "502 from a proxy": (502, "<html>bad gateway</html>"),
    "401": (401, '{"status":"error","errorType":"unauthorized","error":"no"}'),
    "deeply nested": (200, "[" * 100_000 + "]" * 100_000),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_answer_is_metrics_unavailable(case: str) -> None:
    client = answering(*MALFORMED[case])
    with pytest.raises(MetricsUnavailable) as raised:
        client.scalar('sum(x{route="chat"})', AT)
    message = str(raised.value)
    assert message.startswith("http://prometheus.stand-in: ")
    assert len(message) < 700
    assert "\n" not in message


def test_a_sample_without_labels_is_no_data_for_a_route_and_nan_is_a_number() -> None:
    client = answering(200, ok({"resultType": "vector", "result": [{"value": [1, "NaN"]}]}))
    assert BatchingSource(client).scalar('sum(x{route="chat"})', AT) is None
    value = client.scalar("sum(x)", AT)
    assert value is not None
    assert math.isnan(value)  # as Prometheus meant it


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_policy_over_a_malformed_answer_is_inconclusive(case: str) -> None:
    env = Environment.model_validate(
        {
            "apiVersion": V,
            "kind": "Environment",
            "metadata": {"name": "prod"},
            "spec": {"targets": [{"type": "gateway", "url": "http://x"}]},
        }
    )
    route = Route.model_validate(
        {"apiVersion": V, "kind": "Route", "metadata": {"name": "chat"}, "spec": {"model": "m"}}
    )
    policy = SLOPolicy.model_validate(
        {
            "apiVersion": V,
            "kind": "SLOPolicy",
            "metadata": {"name": "p"},
            "spec": {
                "guards": [{"name": "p99", "metric": "ttft", "quantile": 0.99, "threshold": "1s"}]
            },
        }
    )
    state = DesiredState(environment=env, routes=(route,), slo_policies=(policy,))
    [result] = evaluate_state(state, BatchingSource(answering(*MALFORMED[case])), AT)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "prometheus.stand-in" in result.reason
