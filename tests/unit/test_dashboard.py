"""The Grafana dashboard: valid JSON, and only metrics the code exports (the gateway's and the
controller's registries, read at test time). promtool's check of its PromQL is an integration
test (tests/integration/test_dashboard_rules.py)."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry

from controlplane.gateway.metrics import GatewayMetrics
from controlplane.service.metrics import ControllerMetrics
from tests.support.dashboard import DASHBOARD, expressions

OURS = re.compile(r"\b((?:llm_gateway|controlplane|policy|rollback)_[a-z0-9_]+)\b")


def exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def test_the_dashboard_is_grafana_json_with_unique_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all({"x", "y", "w", "h"} <= p["gridPos"].keys() for p in dashboard["panels"])
    assert len(expressions()) >= 20


def test_every_metric_it_queries_is_exported_by_the_code() -> None:
    known = exported(GatewayMetrics().registry) | exported(ControllerMetrics().registry)
    used = {name for expr in expressions() for name in OURS.findall(expr)}
    assert used, "the dashboard queries no controlplane metric"
    assert used <= known, f"not exported: {sorted(used - known)}"
    # and it shows what the issue asks for: arms, TTFT, TPOT, errors, cost, reconcile state
    for needed in (
        "llm_gateway_requests_total",
        "llm_gateway_time_to_first_token_seconds_bucket",
        "llm_gateway_time_per_output_token_seconds_bucket",
        "llm_gateway_cost_usd_total",
        "controlplane_last_successful_sync_timestamp_seconds",
        "policy_failing",
        "rollback_decisions_total",
    ):
        assert needed in used, needed
