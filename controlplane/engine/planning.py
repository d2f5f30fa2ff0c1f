"""Plans per target: against each target's live state, or against another revision as if it
were applied (a pull request's plan, contacting no target)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from controlplane.engine.config import desired_state, load
from controlplane.plan import Plan, compute_plan, simulate
from controlplane.serving import kubernetes
from controlplane.spec import DesiredState, LiveState
from controlplane.spec.environment import KubernetesTargetConfig
from controlplane.targets import ReportsHealth, Target


@dataclass(frozen=True)
class TargetPlan:
    target: Target
    plan: Plan


def plan_target(desired: DesiredState, target: Target) -> Plan:
    """The changes that make `target` equal to `desired`, from its live state now."""
    live = target.read()
    return compute_plan(desired, live, target.capabilities.kinds, target.wanted(desired, live))


def plan_targets(desired: DesiredState, targets: Sequence[Target]) -> list[TargetPlan]:
    return [TargetPlan(target, plan_target(desired, target)) for target in targets]


def health_of(desired: DesiredState, targets: Sequence[Target]) -> list[dict[str, object]]:
    """What the targets that can tell say of the readiness of what they run, per object."""
    return [
        {"target": target.name, **health.to_dict()}
        for target in targets
        if isinstance(target, ReportsHealth)
        for health in target.health(desired)
    ]


def plans_as_if_applied(desired: DesiredState, root: Path, rev: str) -> list[Plan]:
    """What a pull request changes relative to its base `rev`, as if the base were live: the
    environment's resources, then, for each kubernetes target, the manifests its rendered branch
    will change (beside the same GPU and $ delta). An environment new since `rev` is planned
    against nothing. The base is read once."""
    empty = LiveState(resources=())
    base = (
        desired_state(root, desired.name, rev)
        if desired.name in load(root, rev).environments
        else None
    )
    resources = (
        compute_plan(desired, simulate(compute_plan(base, empty), empty))
        if base is not None
        else compute_plan(desired, empty)
    )
    plans = [resources]
    for config in desired.environment.spec.targets:
        if not isinstance(config, KubernetesTargetConfig):
            continue
        before = tuple(kubernetes.manifests(config, base)) if base is not None else ()
        live = LiveState(resources=(), objects=before)
        plan = compute_plan(desired, live, kubernetes.KINDS, kubernetes.manifests(config, desired))
        plans.append(
            plan.model_copy(update={"target": config.name, "capacity": resources.capacity})
        )
    return plans
