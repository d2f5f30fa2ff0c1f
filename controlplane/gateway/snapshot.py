"""The gateway's configuration: an immutable snapshot, replaced whole on every change.

A request takes the snapshot once when it starts and uses only that, so it sees the old
configuration or the new one, never a mix. Writers build a new snapshot and swap one reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

from controlplane.gateway.auth import key_index
from controlplane.gateway.guardrails import is_deep
from controlplane.spec import LIVE_KINDS, Budget, Consumer, Guardrail, Model, Resource, Route

Key = tuple[str, str]
LIVE_KIND_NAMES = frozenset(k.KIND for k in LIVE_KINDS)


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    resources: Mapping[Key, Resource] = field(default_factory=lambda: MappingProxyType({}))
    versions: Mapping[Key, int] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, kind: str, name: str) -> Resource | None:
        return self.resources.get((kind, name))

    def route(self, name: str) -> Route | None:
        found = self.resources.get(("Route", name))
        return found if isinstance(found, Route) else None

    def model(self, name: str) -> Model | None:
        found = self.resources.get(("Model", name))
        return found if isinstance(found, Model) else None

    def guardrail(self, name: str) -> Guardrail | None:
        found = self.resources.get(("Guardrail", name))
        return found if isinstance(found, Guardrail) else None

    @cached_property
    def keys(self) -> Mapping[str, tuple[Consumer, str]]:
        """Key hash -> (consumer, key name); built once per snapshot (resolving references)."""
        return MappingProxyType(
            key_index(r for r in self.resources.values() if isinstance(r, Consumer))
        )

    @cached_property
    def budgets(self) -> tuple[Budget, ...]:
        return tuple(
            sorted(
                (r for r in self.resources.values() if isinstance(r, Budget)),
                key=lambda b: b.name,
            )
        )

    def routes(self) -> list[Route]:
        return sorted(
            (r for r in self.resources.values() if isinstance(r, Route)), key=lambda r: r.name
        )

    def with_resource(self, resource: Resource) -> Snapshot:
        key = (resource.KIND, resource.name)
        version = self.version + 1
        return Snapshot(
            version=version,
            resources=MappingProxyType({**self.resources, key: resource}),
            versions=MappingProxyType({**self.versions, key: version}),
        )

    def without(self, kind: str, name: str) -> Snapshot:
        key = (kind, name)
        return Snapshot(
            version=self.version + 1,
            resources=MappingProxyType({k: v for k, v in self.resources.items() if k != key}),
            versions=MappingProxyType({k: v for k, v in self.versions.items() if k != key}),
        )

    def needing_the_model(self) -> list[str]:
        """Resources the gateway serves only with its embedding model: classifier guardrails
        and semantic caches."""
        return [
            r.ref
            for r in self.resources.values()
            if (isinstance(r, Guardrail) and is_deep(r))
            or (
                isinstance(r, Route)
                and r.spec.cache.enabled
                and r.spec.cache.similarity_threshold < 1.0
            )
        ]

    def broken_references(self) -> list[str]:
        """What would make a request fail: routes naming models or guardrails that are absent."""
        problems = []
        for route in self.routes():
            spec = route.spec
            models = [spec.model, *(v.model for v in spec.variants), *spec.fallbacks]
            if spec.canary is not None:
                models.append(spec.canary.model)
            if spec.cascade is not None:
                models += [spec.cascade.fast, spec.cascade.strong]
            problems += [
                f"Route/{route.name} refers to Model/{m}, which the gateway does not have"
                for m in dict.fromkeys(models)
                if self.model(m) is None
            ]
            problems += [
                f"Route/{route.name} refers to Guardrail/{g}, which the gateway does not have"
                for g in spec.guardrails
                if self.guardrail(g) is None
            ]
        return problems
