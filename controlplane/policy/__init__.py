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
    """The routes a selector names, in the state's order (all of them when it names none)."""
    if not chosen:
        return list(state.routes)
    position = state.route_positions
    return [state.routes[i] for i in sorted(position[n] for n in set(chosen) if n in position)]


def evaluate_policy(
    policy: SLOPolicy | CostPolicy | CanaryAnalysis,
    state: DesiredState,
    dialect: Dialect,
    source: MetricSource,
    at: datetime,
    canary_starts: Mapping[str, datetime] | None = None,
) -> list[Evaluation]:
    """Every check of `policy` on the routes it selects. `canary_starts`: when each route's
    canary went live (by route name); a canary without one gets one fixed test."""
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
                evaluate_canary(
                    policy, dialect, source, env, r.name, at, (canary_starts or {}).get(r.name)
                )
                for r in routes
                if r.spec.canary is not None
            ]


def evaluate_state(
    state: DesiredState,
    source: MetricSource,
    at: datetime,
    policies: list[str] | None = None,
    canary_starts: Mapping[str, datetime] | None = None,
) -> list[Evaluation]:
    """Every policy that selects this environment (or those named), evaluated at `at`."""
    prometheus = state.environment.spec.prometheus
    dialect = DIALECTS[prometheus.dialect if prometheus else "gateway"]
    results: list[Evaluation] = []
    for policy in state.policies():
        if policies and policy.name not in policies:
            continue
        results += evaluate_policy(policy, state, dialect, source, at, canary_starts)
    return results
