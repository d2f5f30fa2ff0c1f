"""Target drivers: read a live system, say what it should hold, and apply changes to it.

The core knows only the `Target` protocol. Each driver is one module, chosen from the
environment's config by its `type`; drivers never import each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from controlplane.plan import Change
from controlplane.spec import DesiredState, LiveState, Managed, ObjectHealth


@dataclass(frozen=True)
class Capabilities:
    kinds: tuple[str, ...]  # the kinds of object the target holds, in dependency order
    conditional_writes: bool  # writes carry the version they replace (If-Match)
    # Changes are written together, all or none (a config file and a reload), through
    # `apply_all`; otherwise one at a time through `apply`.
    all_at_once: bool = False


class Target(Protocol):
    name: str
    capabilities: Capabilities

    def read(self) -> LiveState: ...

    def wanted(self, desired: DesiredState, live: LiveState) -> Sequence[Managed] | None:
        """What the target should hold, in its own objects; None when it holds our resources
        themselves (the embedded gateway)."""
        ...

    def apply(self, change: Change) -> None: ...

    def apply_all(self, changes: Sequence[Change]) -> None:
        """All the changes at once, or none of them (raises TargetError)."""
        ...


@runtime_checkable
class ReportsHealth(Protocol):
    """A target that can say whether what it runs is ready (a cluster reached through
    rendered manifests), besides what it holds."""

    name: str

    def health(self, desired: DesiredState) -> list[ObjectHealth]: ...


def version_of(objects: Iterable[Managed]) -> str:
    """A version of everything read, for the stale-plan check, where the target keeps none."""
    listing = sorted(
        (o.kind, o.name, json.dumps(o.document, sort_keys=True), o.owned) for o in objects
    )
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]
