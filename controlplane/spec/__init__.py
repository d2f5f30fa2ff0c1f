"""Typed resources: the pydantic models of every kind, and the desired state they make up."""

from __future__ import annotations

from controlplane.spec.base import API_VERSION, Metadata, Resource
from controlplane.spec.budget import Budget
from controlplane.spec.consumer import Consumer
from controlplane.spec.environment import Environment
from controlplane.spec.experiment import Experiment
from controlplane.spec.gpupool import GpuPool
from controlplane.spec.guardrail import Guardrail
from controlplane.spec.model import Model
from controlplane.spec.policy import CanaryAnalysis, CostPolicy, SLOPolicy
from controlplane.spec.promotion import Promotion
from controlplane.spec.route import Route
from controlplane.spec.state import DesiredState, LiveState, Managed, ObjectHealth

# Dependency order: a kind may refer only to kinds before it. Plans apply in this order.
KINDS: tuple[type[Resource], ...] = (
    Environment,
    GpuPool,
    Model,
    Guardrail,
    Budget,
    Route,
    Consumer,
    SLOPolicy,
    CostPolicy,
    CanaryAnalysis,
    Promotion,
    Experiment,
)
KIND_BY_NAME: dict[str, type[Resource]] = {k.KIND: k for k in KINDS}
# The kinds applied to live targets, in dependency order. Environments configure controlplane
# itself, and policies are evaluated by it; neither is pushed anywhere.
LIVE_KINDS: tuple[type[Resource], ...] = (GpuPool, Model, Guardrail, Budget, Route, Consumer)

__all__ = [
    "API_VERSION",
    "KINDS",
    "KIND_BY_NAME",
    "LIVE_KINDS",
    "Budget",
    "CanaryAnalysis",
    "Consumer",
    "CostPolicy",
    "DesiredState",
    "Environment",
    "Experiment",
    "GpuPool",
    "Guardrail",
    "LiveState",
    "Managed",
    "Metadata",
    "Model",
    "ObjectHealth",
    "Promotion",
    "Resource",
    "Route",
    "SLOPolicy",
]
