"""Driver for Kubernetes through rendered manifests (the "rendered manifests" pattern).

controlplane does not talk to the cluster: it renders what the Models and GpuPools declare
(controlplane.serving.kubernetes) into one YAML file per object, in a folder of a branch of the
config repository that Argo CD or Flux syncs. Live is what that folder holds now; applying
commits the new files there, all at once (one commit per apply, none when nothing changed).
Each file starts with a header naming the config commit it was rendered from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import yaml

from controlplane.errors import ControlPlaneError, TargetError
from controlplane.plan import Change, ChangeKind
from controlplane.serving import kubernetes
from controlplane.spec import DesiredState, LiveState, Managed, ObjectHealth
from controlplane.spec.environment import KubernetesTargetConfig
from controlplane.targets import Capabilities, version_of

HEADER = "# Rendered by controlplane from {source}: edit the config repository, not this file.\n"


class ManifestStore(Protocol):
    """The folder the manifests are committed to (controlplane.repo.RenderedBranch)."""

    def read(self) -> dict[str, str]:
        """Its files, by path within the folder."""
        ...

    def write(self, files: Mapping[str, str], message: str) -> str | None:
        """Replace its files in one commit; the commit, or None when nothing changed."""
        ...


def manifest_text(document: Mapping[str, Any], source: str) -> str:
    """One object's file: the header, then the manifest with sorted keys (byte-stable)."""
    body = yaml.safe_dump(dict(document), sort_keys=True, default_flow_style=False, width=1000)
    return HEADER.format(source=source) + body


class HealthReader(Protocol):
    """Readiness of one object on the cluster (controlplane.cluster.ClusterHealth)."""

    def read(self, kind: str, name: str, sources: tuple[str, ...] = ()) -> ObjectHealth: ...


class KubernetesDriver:
    capabilities = Capabilities(kinds=kubernetes.KINDS, conditional_writes=False, all_at_once=True)

    def __init__(
        self,
        config: KubernetesTargetConfig,
        store: ManifestStore,
        health: HealthReader | None = None,
    ) -> None:
        self.name = config.name
        self._config = config
        self._store = store
        self._health = health
        self._source = "the working folder"

    def health(self, desired: DesiredState) -> list[ObjectHealth]:
        """Readiness of each Model's serving object (none without cluster access)."""
        if self._health is None:
            return []
        serving = (kubernetes.INFERENCE_SERVICE, kubernetes.DEPLOYMENT)
        return [
            self._health.read(o.kind, o.name, o.sources)
            for o in kubernetes.manifests(self._config, desired)
            if o.kind in serving
        ]

    def read(self) -> LiveState:
        try:
            files = self._store.read()
        except ControlPlaneError as exc:
            raise TargetError(f"kubernetes {self.name!r}: {exc}") from exc
        objects = []
        for path, text in sorted(files.items()):
            if not path.endswith(".yaml"):
                continue
            try:
                document = yaml.safe_load(text)
            except yaml.YAMLError:
                continue  # not ours, or ours broken by hand: a create writes it again
            metadata = document.get("metadata") if isinstance(document, dict) else None
            name = metadata.get("name") if isinstance(metadata, dict) else None
            kind = document.get("kind") if isinstance(document, dict) else None
            if not isinstance(kind, str) or not isinstance(name, str):
                continue  # not a manifest controlplane wrote: left alone, never deleted
            if path != kubernetes.file_name(kind, name):
                continue  # a file of someone else's in the folder: left alone too
            objects.append(Managed(kind, name, document))
        return LiveState(resources=(), version=version_of(objects), objects=tuple(objects))

    def wanted(self, desired: DesiredState, live: LiveState) -> Sequence[Managed]:
        self._source = f"commit {desired.commit}" if desired.commit else "the working folder"
        return kubernetes.manifests(self._config, desired)

    def apply(self, change: Change) -> None:
        self.apply_all([change])

    def apply_all(self, changes: Sequence[Change]) -> None:
        """The folder as it is, with these changes, in one commit."""
        try:
            files = self._store.read()
            for change in changes:
                path = kubernetes.file_name(change.kind, change.name)
                if change.action is ChangeKind.DELETE:
                    files.pop(path, None)
                else:
                    assert change.after is not None
                    files[path] = manifest_text(change.after, self._source)
            refs = ", ".join(sorted({s for c in changes for s in c.sources})) or "objects"
            self._store.write(files, f"Render {refs} from {self._source}")
        except ControlPlaneError as exc:
            raise TargetError(f"kubernetes {self.name!r}: {exc}") from exc
