"""DesiredState: one environment's validated resources, the input of a plan."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.spec.base import Resource
from controlplane.spec.budget import Budget
from controlplane.spec.environment import Environment
from controlplane.spec.gpupool import GpuPool
from controlplane.spec.guardrail import Guardrail
from controlplane.spec.model import Model
from controlplane.spec.policy import CanaryAnalysis, CostPolicy, SLOPolicy
from controlplane.spec.route import Route


@dataclass(frozen=True)
class DesiredState:
    """Everything git says one environment should be, sorted by name within each kind."""

    environment: Environment
    pools: tuple[GpuPool, ...] = ()
    models: tuple[Model, ...] = ()
    guardrails: tuple[Guardrail, ...] = ()
    budgets: tuple[Budget, ...] = ()
    routes: tuple[Route, ...] = ()
    slo_policies: tuple[SLOPolicy, ...] = ()
    cost_policies: tuple[CostPolicy, ...] = ()
    canary_analyses: tuple[CanaryAnalysis, ...] = ()

    @property
    def name(self) -> str:
        return self.environment.name

    def resources(self) -> tuple[Resource, ...]:
        """All resources in dependency order."""
        return (
            self.environment,
            *self.pools,
            *self.models,
            *self.guardrails,
            *self.budgets,
            *self.routes,
            *self.slo_policies,
            *self.cost_policies,
            *self.canary_analyses,
        )
