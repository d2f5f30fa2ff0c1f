"""YAML edits that keep a file's comments and layout (ruamel.yaml's round-trip mode). Pure.

Round-trip mode keeps comments, key order, quoting and flow style. Indentation is not recorded
in the file, so the layout that reproduces the untouched file byte for byte is chosen first; an
edit then changes only the lines it must. Used by the rollback patch and the demo's overlays.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

# (mapping, sequence, offset) indentations, most common first.
LAYOUTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


def _yaml(layout: tuple[int, int, int]) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    mapping, sequence, offset = layout
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


@dataclass
class EditableYaml:
    """The documents of one file, to edit in place and dump in the file's own layout."""

    documents: list[Any]
    _yaml: YAML = field(repr=False)

    def dump(self) -> str:
        out = io.StringIO()
        self._yaml.dump_all(self.documents, out)
        return out.getvalue()

    def resources(self) -> Iterator[Any]:
        """The documents that look like resources (a mapping with a kind and a metadata.name)."""
        for document in self.documents:
            if (
                isinstance(document, dict)
                and isinstance(document.get("kind"), str)
                and isinstance(document.get("metadata"), dict)
                and isinstance(document["metadata"].get("name"), str)
            ):
                yield document

    def resource(self, kind: str, name: str) -> Any | None:
        """The document of `kind` named `name`, or None."""
        for document in self.resources():
            if document["kind"] == kind and document["metadata"]["name"] == name:
                return document
        return None


def load_editable(text: str) -> EditableYaml | None:
    """The documents of `text` with the layout that reproduces it; None when it is not YAML."""
    try:
        documents = list(_yaml(LAYOUTS[0]).load_all(text))  # reading ignores the layout
    except YAMLError:
        return None
    for layout in LAYOUTS:
        editable = EditableYaml(documents, _yaml(layout))
        if editable.dump() == text:
            return editable
    return EditableYaml(documents, _yaml(LAYOUTS[0]))
