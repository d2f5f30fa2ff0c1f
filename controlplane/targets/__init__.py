"""Target drivers: read a live system as typed resources, and apply one change to it.

The core knows only the `Target` protocol. Each driver is one module, chosen from the
environment's config by its `type`; drivers never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controlplane.plan import Change
from controlplane.spec import LiveState, Resource


@dataclass(frozen=True)
class Capabilities:
    kinds: tuple[type[Resource], ...]  # what the target holds, in dependency order
    conditional_writes: bool  # writes carry the version they replace (If-Match)


class Target(Protocol):
    name: str
    capabilities: Capabilities

    def read(self) -> LiveState: ...

    def apply(self, change: Change) -> None: ...
