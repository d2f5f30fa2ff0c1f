"""The `patch` remediation: a minimal edit of one route, written back with its comments and
layout (`controlplane.config.roundtrip`). Pure: texts in, text out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.config.roundtrip import EditableYaml, load_editable


@dataclass(frozen=True)
class Patch:
    path: str
    text: str
    description: str


def find_resource(
    files: Mapping[str, str], name: str, kind: str = "Route"
) -> tuple[str, EditableYaml, Any] | None:
    """The file holding the `kind` named `name`, loaded for editing, and its document."""
    for path, text in sorted(files.items()):
        if kind not in text or name not in text:
            continue
        editable = load_editable(text)
        if editable is None:
            continue
        document = editable.resource(kind, name)
        if document is not None and isinstance(document.get("spec"), dict):
            return path, editable, document
    return None


def patch_route(files: Mapping[str, str], route: str, previous: Mapping[str, str]) -> Patch | None:
    """The smallest edit that takes back what the blamed commit did to `route`.

    `files` are the environment's YAML files now, `previous` as they were before the blamed
    commit. A canary the commit introduced or changed is set to 0 percent; otherwise the spec
    fields the commit changed get their earlier values. None when neither applies."""
    found = find_resource(files, route)
    if found is None:
        return None
    path, editable, document = found
    spec = document["spec"]
    before = find_resource(previous, route)
    old_spec = before[2]["spec"] if before else None
    changed = [
        k for k in {*spec, *(old_spec or {})} if old_spec is None or spec.get(k) != old_spec.get(k)
    ]
    canary = spec.get("canary")
    if isinstance(canary, dict) and canary.get("percent") and "canary" in changed:
        canary["percent"] = 0
        return Patch(
            path,
            editable.dump(),
            f"set the canary percent of route {route} (model {canary.get('model')}) to 0",
        )
    if old_spec is None or not changed:
        return None
    for key in sorted(changed):
        if key in old_spec:
            spec[key] = old_spec[key]
        else:
            del spec[key]
    fields = ", ".join(f"spec.{k}" for k in sorted(changed))
    return Patch(path, editable.dump(), f"restored {fields} of route {route}")
