"""The shipped Grafana dashboard and the PromQL of its panels."""

from __future__ import annotations

import json

from tests.support.config import REPO

DASHBOARD = REPO / "dashboards/controlplane.json"


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
