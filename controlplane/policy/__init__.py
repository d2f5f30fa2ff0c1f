"""Policy evaluation: SLO burn rates, threshold guards, cost budgets and canary analysis.

Pure: evaluators take policies, a metric dialect, a MetricSource and an explicit time, and return
tri-state results with their evidence. No data, too little data, or an unreachable Prometheus is
INCONCLUSIVE, never a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from controlplane.policy.canary import evaluate_canary
from controlplane.policy.dialects import DIALECTS, Dialect
from controlplane.policy.guards import evaluate_budget, evaluate_guard, evaluate_unit_cost
from controlplane.policy.model import Evaluation, Evidence, Outcome, combine
from controlplane.policy.slo import evaluate_objective
from controlplane.policy.source import MetricSource
from controlplane.spec import DesiredState, Route
from controlplane.spec.policy import CanaryAnalysis, CostPolicy, SLOPolicy

__all__ = [
    "DIALECTS",
    "Dialect",
    "Evaluation",
    "Evidence",
    "MetricSource",
    "Outcome",
    "combine",
    "evaluate_policy",
    "evaluate_state",
]


def _routes(state: DesiredState, chosen: list[str]) -> list[Route]:
    return [r for r in state.routes if not chosen or r.name in chosen]


def evaluate_policy(
    policy: SLOPolicy | CostPolicy | CanaryAnalysis,
    state: DesiredState,
    dialect: Dialect,
    source: MetricSource,
    at: datetime,
    look: int | None = None,
) -> list[Evaluation]:
    env = state.name
    routes = _routes(state, policy.spec.selector.routes)
    match policy:
        case SLOPolicy():
            results = [
                evaluate_objective(policy, o, dialect, source, env, r.name, at)
                for r in routes
                for o in policy.spec.objectives
            ]
            return results + [
                evaluate_guard(policy, g, dialect, source, env, r.name, at)
                for r in routes
                for g in policy.spec.guards
            ]
        case CostPolicy():
            budgets = [
                evaluate_budget(policy, b, dialect, source, env, at) for b in policy.spec.budgets
            ]
            units = [
                evaluate_unit_cost(policy, dialect, source, env, r.name, at, bool(r.spec.canary))
                for r in routes
            ]
            return budgets + [u for u in units if u is not None]
        case CanaryAnalysis():
            return [
                evaluate_canary(policy, dialect, source, env, r.name, at, look)
                for r in routes
                if r.spec.canary is not None
            ]


def evaluate_state(
    state: DesiredState,
    source: MetricSource,
    at: datetime,
    policies: list[str] | None = None,
    looks: Mapping[str, int] | None = None,
) -> list[Evaluation]:
    """Every policy that selects this environment (or those named), evaluated at `at`."""
    prometheus = state.environment.spec.prometheus
    dialect = DIALECTS[prometheus.dialect if prometheus else "gateway"]
    results: list[Evaluation] = []
    for policy in state.policies():
        if policies and policy.name not in policies:
            continue
        look = (looks or {}).get(policy.name)
        results += evaluate_policy(policy, state, dialect, source, at, look)
    return results
