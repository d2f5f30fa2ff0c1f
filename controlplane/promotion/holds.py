"""Holds: a live value kept apart from git while a pull request is decided. Pure.

`remediation.immediate` sets a critical canary's live percent to 0 at once; git still says
otherwise until its rollback pull request is merged or closed. The reconciler applies the held
state, so a held field is reported as held, not as drift, and git and live never fight."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from controlplane.spec import DesiredState


def held_state(state: DesiredState, routes: Collection[str]) -> DesiredState:
    """`state` with the canary of each held route at 0 percent (the canary stays declared, so
    its metrics and analysis keep their names)."""
    held = set(routes)
    if not held or not any(r.name in held and r.spec.canary for r in state.routes):
        return state
    changed = tuple(
        route.model_copy(
            update={
                "spec": route.spec.model_copy(
                    update={"canary": route.spec.canary.model_copy(update={"percent": 0.0})}
                )
            }
        )
        if route.name in held and route.spec.canary is not None
        else route
        for route in state.routes
    )
    return dataclasses.replace(state, routes=changed)
