"""Apply a plan to a live state in memory: the dry-run executor, and the plan's own check.

`simulate(plan, live)` is what a target would hold after applying `plan` to `live`, computed
without touching one. Property tests use it to prove plan(a, b) applied to b gives a.
"""

from __future__ import annotations

from typing import assert_never

from controlplane.plan.model import ChangeKind, Plan
from controlplane.spec import KIND_BY_NAME, LiveState, Resource
from controlplane.spec.state import MANAGED_BY, MANAGER


def owned_resource(kind: str, document: dict[str, object]) -> Resource:
    """The resource a change writes, marked as controlplane's."""
    resource = KIND_BY_NAME[kind].model_validate(document)
    annotations = {**resource.metadata.annotations, MANAGED_BY: MANAGER}
    metadata = resource.metadata.model_copy(update={"annotations": annotations})
    return resource.model_copy(update={"metadata": metadata})


def simulate(plan: Plan, live: LiveState) -> LiveState:
    resources = {(r.KIND, r.name): r for r in live.resources}
    for change in plan.changes:
        key = (change.kind, change.name)
        match change.action:
            case ChangeKind.CREATE | ChangeKind.UPDATE:
                assert change.after is not None
                resources[key] = owned_resource(change.kind, change.after)
            case ChangeKind.DELETE:
                resources.pop(key, None)
            case _ as unreachable:
                assert_never(unreachable)
    return LiveState(resources=tuple(resources.values()))
