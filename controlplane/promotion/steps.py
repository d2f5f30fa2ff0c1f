"""The canary-step promotion: the edit that moves a route's canary to its next step, or makes the
canary the route's model after the last one. Pure: texts in, text out, comments kept."""

from __future__ import annotations

from collections.abc import Mapping

from controlplane.rollback.patch import Patch, find_resource


def _same(a: object, b: float) -> bool:
    return isinstance(a, int | float) and not isinstance(a, bool) and float(a) == b


def promote_canary(
    files: Mapping[str, str], route: str, model: str, percent: float, to: float, final: bool
) -> Patch | None:
    """Move route `route`'s canary `model` from `percent` to `to`, or (`final`) make it the
    route's model and end the canary. None when the files no longer hold that canary at that
    percent: someone moved it already, so there is nothing to promote."""
    found = find_resource(files, route)
    if found is None:
        return None
    path, editable, document = found
    spec = document["spec"]
    canary = spec.get("canary")
    if not isinstance(canary, dict) or canary.get("model") != model:
        return None
    if not _same(canary.get("percent"), percent):
        return None
    if final:
        old = spec.get("model")
        spec["model"] = model
        del spec["canary"]
        return Patch(
            path,
            editable.dump(),
            f"make {model} the model of route {route} (was {old}) and end its canary",
        )
    canary["percent"] = int(to) if float(to).is_integer() else to
    return Patch(
        path,
        editable.dump(),
        f"move the canary {model} of route {route} from {percent:g}% to {to:g}%",
    )
