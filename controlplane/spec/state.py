"""DesiredState and LiveState: the two inputs of a plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from controlplane.spec.base import Resource
from controlplane.spec.budget import Budget
from controlplane.spec.consumer import Consumer
from controlplane.spec.environment import Environment
from controlplane.spec.experiment import Experiment
from controlplane.spec.gpupool import GpuPool
from controlplane.spec.guardrail import Guardrail
from controlplane.spec.model import Model
from controlplane.spec.policy import CanaryAnalysis, CostPolicy, Policy, SLOPolicy
from controlplane.spec.promotion import Promotion
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
    consumers: tuple[Consumer, ...] = ()
    slo_policies: tuple[SLOPolicy, ...] = ()
    cost_policies: tuple[CostPolicy, ...] = ()
    canary_analyses: tuple[CanaryAnalysis, ...] = ()
    # The promotion rules whose source (`from`) is this environment.
    promotions: tuple[Promotion, ...] = ()
    # The A/B experiments that run in this environment (evaluated on request, not scheduled).
    experiments: tuple[Experiment, ...] = ()
    # The config commit it was read from ("" for a working folder), which rendered output names.
    commit: str = ""

    @property
    def name(self) -> str:
        return self.environment.name

    @cached_property
    def route_positions(self) -> dict[str, int]:
        """Route name -> its index in `routes`: selectors of thousands of policies look up their
        routes instead of scanning them."""
        return {route.name: i for i, route in enumerate(self.routes)}

    @cached_property
    def models_by_name(self) -> dict[str, Model]:
        return {model.name: model for model in self.models}

    def policies(self) -> tuple[Policy, ...]:
        """Every policy that selects this environment, SLOs first."""
        return (*self.slo_policies, *self.cost_policies, *self.canary_analyses)

    def resources(self) -> tuple[Resource, ...]:
        """All resources in dependency order."""
        return (
            self.environment,
            *self.pools,
            *self.models,
            *self.guardrails,
            *self.budgets,
            *self.routes,
            *self.consumers,
            *self.policies(),
            *self.promotions,
            *self.experiments,
        )


# Annotations controlplane writes on what it applies. The first marks ownership: only owned
# objects are ever deleted. Annotations under this prefix are bookkeeping, never diffed.
ANNOTATION_PREFIX = "controlplane.dev/"
MANAGED_BY = ANNOTATION_PREFIX + "managed-by"
MANAGER = "controlplane"


def is_owned(resource: Resource) -> bool:
    return resource.metadata.annotations.get(MANAGED_BY) == MANAGER


@dataclass(frozen=True)
class Managed:
    """One object a target holds, in the JSON form that is compared and sent.

    The embedded gateway holds our own resources; other targets hold their own objects (a
    LiteLLM deployment, a vLLM adapter), made from one or more resources: `sources` names them
    (`Route/chat`), so that history can blame the resources a change came from.
    """

    kind: str
    name: str
    document: Mapping[str, Any]
    owned: bool = True  # created by controlplane, so it may be deleted (prune)
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectHealth:
    """What a cluster says of one object it runs: ready, not ready, or unknown (None)."""

    kind: str
    name: str
    ready: bool | None
    reason: str = ""
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "ready": self.ready,
            "reason": self.reason,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class LiveState:
    """What a target holds now, as the same typed resources, with the versions it reported.

    `version` is the target's version of its whole config (an ETag, or a digest of what was
    read); `versions` holds each resource's own, keyed by (kind, name), for optimistic
    concurrency on writes.
    """

    resources: tuple[Resource, ...]
    version: str = ""
    versions: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # What a target that holds objects of its own (not our resources) holds.
    objects: tuple[Managed, ...] = ()
