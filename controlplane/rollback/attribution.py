"""Attribution: which applied commit to blame for a breach. Pure; the history comes in as data.

The blamed commit is the newest one applied before the breach began that changed a resource the
failing check covers: the route, the models it names, their GPU pools and its guardrails. A
commit applied after the breach began cannot have caused it; one that touched none of these
resources is not the cause either, however recent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from controlplane.spec import DesiredState

Key = tuple[str, str]  # (kind, name)
APPLIED, IN_SYNC = "applied", "in-sync"  # history's AttemptResult values (a StrEnum compares equal)


class ChangedResource(Protocol):
    """What attribution reads of one applied change."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sources(self) -> Sequence[str]: ...


def _resources_of(change: ChangedResource) -> set[Key]:
    """The config resources a change came from: itself, or (for a target's own objects, such
    as a LiteLLM deployment or a vLLM adapter) the resources it was made from."""
    found = {(change.kind, change.name)}
    for source in change.sources:
        kind, _, name = source.partition("/")
        found.add((kind, name))
    return found


class AppliedAttempt(Protocol):
    """What attribution reads of one reconcile attempt (controlplane.history's Attempt)."""

    @property
    def commit_sha(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def result(self) -> str: ...
    @property
    def changes(self) -> Sequence[ChangedResource]: ...


@dataclass(frozen=True)
class Blame:
    commit_sha: str
    author: str
    message: str
    applied_at: datetime
    # The commit live before it: the blamed apply brought every commit after this one live.
    previous_sha: str | None
    changed: tuple[Key, ...]  # the covered resources its apply changed


def covered_resources(state: DesiredState, route: str) -> frozenset[Key]:
    """The resources a check of `route` judges. Without a route (an environment-wide budget),
    every route's resources."""
    routes = [r for r in state.routes if not route or r.name == route]
    if not routes and route:
        return frozenset({("Route", route)})
    models = {name for r in routes for _, name in r.model_refs()}
    pools = {m.spec.pool for m in state.models if m.name in models and m.spec.pool}
    return frozenset(
        {("Route", r.name) for r in routes}
        | {("Model", m) for m in models}
        | {("GpuPool", p) for p in pools}
        | {("Guardrail", g) for r in routes for g in r.spec.guardrails}
    )


def onset(points: Sequence[tuple[datetime, float]], threshold: float) -> datetime | None:
    """When the breach still going on at the last point began: the first point of the final run
    above the threshold. None when the last point is not above it. A run that fills the whole
    series began at or before its first point."""
    if not points or not points[-1][1] > threshold:
        return None
    start = points[-1][0]
    for at, value in reversed(points):
        if not value > threshold:  # NaN (no data) ends the run as well
            break
        start = at
    return start


def blame(
    attempts: Iterable[AppliedAttempt], covered: frozenset[Key], breach_start: datetime
) -> Blame | None:
    """The newest apply that started before `breach_start` and changed a covered resource."""
    ordered = sorted(attempts, key=lambda a: a.started_at)
    successes = [a for a in ordered if a.result in (APPLIED, IN_SYNC)]
    for attempt in reversed(successes):
        if attempt.result != APPLIED or attempt.started_at > breach_start:
            continue
        changed = tuple(
            sorted({key for c in attempt.changes for key in _resources_of(c) if key in covered})
        )
        if not changed:
            continue
        earlier = [
            a.commit_sha
            for a in successes
            if a.started_at < attempt.started_at and a.commit_sha != attempt.commit_sha
        ]
        return Blame(
            commit_sha=attempt.commit_sha,
            author=attempt.author,
            message=attempt.message,
            applied_at=attempt.finished_at or attempt.started_at,
            previous_sha=earlier[-1] if earlier else None,
            changed=changed,
        )
    return None
