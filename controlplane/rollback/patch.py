"""The `patch` remediation: a minimal edit of one route, written back with its comments and layout.

ruamel.yaml's round-trip mode keeps comments, key order, quoting and flow style. Indentation is
not recorded in the file, so the layout that reproduces the untouched file byte for byte is
chosen first; the edit then changes only the lines it must. Pure: texts in, text out.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# (mapping, sequence, offset) indentations, most common first.
LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


@dataclass(frozen=True)
class Patch:
    path: str
    text: str
    description: str


def _yaml(layout: tuple[int, int, int]) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = layout
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, documents: list[Any]) -> str:
    out = io.StringIO()
    yaml.dump_all(documents, out)
    return out.getvalue()


def _load(text: str) -> tuple[YAML, list[Any]] | None:
    """The documents of a file, and a YAML whose layout reproduces the file unchanged."""
    try:
        documents = list(_yaml(LAYOUTS[0]).load_all(text))  # reading ignores the layout
    except YAMLError:
        return None
    for layout in LAYOUTS:
        yaml = _yaml(layout)
        if _dump(yaml, documents) == text:
            return yaml, documents
    return _yaml(LAYOUTS[0]), documents


def _route(documents: list[Any], route: str) -> Any | None:
    for document in documents:
        if (
            isinstance(document, dict)
            and document.get("kind") == "Route"
            and isinstance(document.get("metadata"), dict)
            and document["metadata"].get("name") == route
            and isinstance(document.get("spec"), dict)
        ):
            return document
    return None


def _find(files: Mapping[str, str], route: str) -> tuple[str, YAML, list[Any], Any] | None:
    for path, text in sorted(files.items()):
        if "Route" not in text or route not in text:
            continue
        loaded = _load(text)
        if loaded is None:
            continue
        yaml, documents = loaded
        document = _route(documents, route)
        if document is not None:
            return path, yaml, documents, document
    return None


def patch_route(files: Mapping[str, str], route: str, previous: Mapping[str, str]) -> Patch | None:
    """The smallest edit that takes back what the blamed commit did to `route`.

    `files` are the environment's YAML files now, `previous` as they were before the blamed
    commit. A canary the commit introduced or changed is set to 0 percent; otherwise the spec
    fields the commit changed get their earlier values. None when neither applies."""
    found = _find(files, route)
    if found is None:
        return None
    path, yaml, documents, document = found
    spec = document["spec"]
    before = _find(previous, route)
    old_spec = before[3]["spec"] if before else None
    changed = [
        k for k in {*spec, *(old_spec or {})} if old_spec is None or spec.get(k) != old_spec.get(k)
    ]
    canary = spec.get("canary")
    if isinstance(canary, dict) and canary.get("percent") and "canary" in changed:
        canary["percent"] = 0
        return Patch(
            path,
            _dump(yaml, documents),
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
    return Patch(path, _dump(yaml, documents), f"restored {fields} of route {route}")
