"""The shipped example config (`environments/` and `policies/` of this repository), as package
data, so an installed controlplane can seed `controlplane demo` from it. In the source tree
these are links to the folders at the repository root; a wheel holds copies."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable

from controlplane.config import CONFIG_DIRS


def example_files() -> Iterator[tuple[str, bytes]]:
    """(path relative to the config root, content) of every file of the example config."""
    root = files(__name__)
    for top in CONFIG_DIRS:
        yield from _walk(root / top, top)


def _walk(node: Traversable, relative: str) -> Iterator[tuple[str, bytes]]:
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        path = f"{relative}/{child.name}"
        if child.is_dir():
            yield from _walk(child, path)
        elif child.name.endswith((".yaml", ".yml")):
            yield path, child.read_bytes()
