"""Ship an experiment's winner: the route serves the winning variant's model and its variants
go, written back with the file's comments and layout (`controlplane.config.roundtrip`), the way
`rollback.patch` edits a route. Pure: texts in, texts out; the pull request is made elsewhere.

Comments are kept where they still mean something: the ones on the lines of the variants and
directly above `variants:` go with them; the ones that stood above the next field stay above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from controlplane.rollback.patch import find_resource


@dataclass(frozen=True)
class FileEdit:
    """A file's new text; None when the file is to be removed (it held nothing else)."""

    path: str
    text: str | None
    description: str


def ship_winner(files: Mapping[str, str], route: str, variant: str) -> FileEdit | None:
    """The edit of the environment's YAML `files` that makes `route` serve `variant`'s model
    alone: `spec.model` set to it, `spec.variants` removed (and the model out of the route's
    fallbacks, if it was one). None when the route or the variant is not there."""
    found = find_resource(files, route)
    if found is None:
        return None
    path, editable, document = found
    spec = document["spec"]
    variants = spec.get("variants")
    if not isinstance(variants, list):
        return None
    chosen = next((v for v in variants if isinstance(v, dict) and v.get("name") == variant), None)
    if chosen is None or not isinstance(chosen.get("model"), str):
        return None
    model = chosen["model"]
    previous = spec.get("model")
    spec["model"] = model
    _remove_field(spec, "variants")
    fallbacks = spec.get("fallbacks")
    if isinstance(fallbacks, list) and model in fallbacks:  # a model is not its own fallback
        fallbacks.remove(model)
        if not fallbacks:
            _remove_field(spec, "fallbacks")
    return FileEdit(
        path,
        editable.dump(),
        f"route {route} serves {model} (variant {variant}, the experiment's winner) instead of "
        f"its variants; it served {previous} by default",
    )


def retire_experiment(files: Mapping[str, str], name: str, environment: str) -> FileEdit | None:
    """The edit of the policies' YAML `files` that ends Experiment `name` in `environment` (whose
    route no longer has variants once its winner ships): the environment leaves its selector,
    or the experiment goes when it ran nowhere else (its file too, when it held nothing else).
    None when there is no such experiment."""
    found = find_resource(files, name, kind="Experiment")
    if found is None:
        return None
    path, editable, document = found
    selector = document["spec"].get("selector")
    chosen = selector.get("environments") if isinstance(selector, dict) else None
    if isinstance(chosen, list) and environment in chosen and len(chosen) > 1:
        chosen.remove(environment)
        return FileEdit(
            path,
            editable.dump(),
            f"Experiment {name} no longer runs in {environment}, where its winner shipped",
        )
    editable.documents.remove(document)
    left = any(d is not None for d in editable.documents)
    return FileEdit(
        path,
        editable.dump() if left else None,
        f"Experiment {name} removed: its winner shipped",
    )


def _comment_slots(node: Any) -> list[tuple[Any, Any, int]]:
    """The comment slots (container, key, position) along the last line of `node`, deepest
    first: where ruamel keeps the comments that follow a block."""
    if isinstance(node, CommentedMap) and node:
        key = list(node)[-1]
        return [*_comment_slots(node[key]), (node, key, 2)]
    if isinstance(node, CommentedSeq) and node:
        return [*_comment_slots(node[-1]), (node, len(node) - 1, 0)]
    return []


def _remove_field(mapping: CommentedMap, key: str) -> None:
    """Delete `key` from a round-trip mapping, keeping the comment lines that followed its
    value (they stand above the next field) and dropping those on and above its own lines."""
    keys = list(mapping)
    before = keys[keys.index(key) - 1] if keys.index(key) > 0 else None
    following = ""
    moved = None
    for container, slot, position in [*_comment_slots(mapping[key]), (mapping, key, 2)]:
        entry = container.ca.items.get(slot)
        token = entry[position] if entry and len(entry) > position else None
        if token is not None:
            # The token holds the end of the last line (an inline comment or nothing), then the
            # comment lines after it.
            following = token.value.split("\n", 1)[1] if "\n" in token.value else ""
            moved = token
            break
    del mapping[key]
    if before is None:
        return
    entry = mapping.ca.items.get(before)
    kept = entry[2] if entry and len(entry) > 2 else None
    if kept is not None:
        inline = kept.value.split("\n", 1)[0]
        kept.value = inline + "\n" + following
    elif following and moved is not None:
        moved.value = "\n" + following
        mapping.ca.items[before] = [None, None, moved, None]
