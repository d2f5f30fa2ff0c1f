"""The demo's changes to the shipped config, as small overlay files (in the manner of kustomize's
strategic-merge patches), applied with the files' comments and layout kept.

An overlay file names resources by kind and metadata.name. A resource the target file has is
merged into (mappings key by key, anything else replaced); one it lacks is appended as a new
document; a file the config lacks is written as it is. `${name}` placeholders are filled in
first, and every one must be known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from controlplane.config.roundtrip import load_editable

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def fill(text: str, values: Mapping[str, str]) -> str:
    """TEXT with each ${name} replaced by its value; KeyError for a name not given."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def merge(base: Any, patch: Any) -> None:
    """Merge mapping PATCH into mapping BASE in place: nested mappings key by key."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


def overlay(base_text: str | None, patch_text: str) -> str:
    """The file BASE_TEXT with the resources of PATCH_TEXT merged in (or PATCH_TEXT itself when
    there is no such file yet)."""
    if base_text is None:
        return patch_text
    base, patch = load_editable(base_text), load_editable(patch_text)
    if base is None or patch is None:
        raise ValueError("an overlay and the file it changes must both be YAML")
    for document in patch.resources():
        found = base.resource(document["kind"], document["metadata"]["name"])
        if found is None:
            base.documents.append(document)
        else:
            merge(found, document)
    return base.dump()


def overlay_files(name: str) -> Iterator[tuple[str, str]]:
    """(path relative to the config root, text) of the demo's overlay NAME (package data)."""
    yield from _walk(files("controlplane.demo") / "overlays" / name, "")


def _walk(node: Traversable, relative: str) -> Iterator[tuple[str, str]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        path = f"{relative}{child.name}"
        if child.is_dir():
            yield from _walk(child, f"{path}/")
        else:
            yield path, child.read_text(encoding="utf-8")


def apply_overlay(root: Path, name: str, values: Mapping[str, str]) -> list[str]:
    """Apply overlay NAME to the config under ROOT; the files it changed."""
    changed = []
    for relative, text in overlay_files(name):
        target = root / relative
        base = target.read_text(encoding="utf-8") if target.exists() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(overlay(base, fill(text, values)), encoding="utf-8")
        changed.append(relative)
    return changed
