"""plan(desired, live) -> Plan. Pure: values in, a value out, the same bytes every time.

Pair first, then diff (as gitops-engine does): resources are paired by (kind, name); a missing
side is a create or a delete, and each pair is compared field by field in its JSON form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from controlplane.plan.model import Capacity, Change, ChangeKind, FieldChange, Plan, Skipped
from controlplane.spec import LIVE_KINDS, DesiredState, GpuPool, LiveState, Managed, Model, Resource
from controlplane.spec.state import ANNOTATION_PREFIX, is_owned

HOURS_PER_MONTH = 730  # 365 × 24 / 12, as cloud price sheets use

Key = tuple[str, str]
LIVE_KIND_NAMES = tuple(kind.KIND for kind in LIVE_KINDS)


def document_of(resource: Resource) -> dict[str, Any]:
    """The JSON form that is compared and sent, without controlplane's own bookkeeping."""
    document = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    annotations = document["metadata"]["annotations"]
    document["metadata"]["annotations"] = {
        k: v for k, v in annotations.items() if not k.startswith(ANNOTATION_PREFIX)
    }
    return document


def managed(resource: Resource) -> Managed:
    """One of our resources as an object a target holds (the embedded gateway's kind)."""
    return Managed(
        kind=resource.KIND,
        name=resource.name,
        document=document_of(resource),
        owned=is_owned(resource),
        sources=(resource.ref,),
    )


def compute_plan(
    desired: DesiredState,
    live: LiveState,
    kinds: Sequence[str] = LIVE_KIND_NAMES,
    wanted: Sequence[Managed] | None = None,
) -> Plan:
    """The ordered changes that make `live` equal to `desired`, for the kinds a target holds.

    `wanted` is what a target should hold when it holds objects of its own (what the desired
    resources become in its terms); by default, the desired resources themselves."""
    rank = {kind: i for i, kind in enumerate(kinds)}
    if wanted is None:
        wanted = [managed(r) for r in desired.resources()]
    held = [*live.objects, *(managed(r) for r in live.resources)]
    want_by_key = _by_key(wanted, rank)
    have_by_key = _by_key(held, rank)
    upserts: list[Change] = []
    deletes: list[Change] = []
    skipped: list[Skipped] = []
    for key in sorted(want_by_key.keys() | have_by_key.keys(), key=lambda k: (rank[k[0]], k[1])):
        kind, name = key
        want, have = want_by_key.get(key), have_by_key.get(key)
        version = live.versions.get(key)
        if have is None:
            assert want is not None
            upserts.append(
                Change(
                    action=ChangeKind.CREATE,
                    kind=kind,
                    name=name,
                    after=dict(want.document),
                    sources=want.sources,
                )
            )
        elif want is None:
            if not have.owned:
                skipped.append(Skipped(kind=kind, name=name, reason="not created by controlplane"))
            elif not desired.environment.spec.prune:
                skipped.append(Skipped(kind=kind, name=name, reason="prune is off"))
            else:
                deletes.append(
                    Change(
                        action=ChangeKind.DELETE,
                        kind=kind,
                        name=name,
                        before=dict(have.document),
                        live_version=version,
                        sources=have.sources,
                    )
                )
        else:
            before, after = dict(have.document), dict(want.document)
            fields = tuple(diff_fields(before, after))
            if fields or not have.owned:
                upserts.append(
                    Change(
                        action=ChangeKind.UPDATE,
                        kind=kind,
                        name=name,
                        before=before,
                        after=after,
                        fields=fields,
                        live_version=version,
                        sources=want.sources,
                    )
                )
    # Dependencies first on the way in, dependents first on the way out: a route never points
    # at a model that is not live yet, nor at one already deleted.
    deletes.reverse()
    # GPUs change only where the target holds the models themselves.
    held_resources = live.resources if Model.KIND in rank else desired.resources()
    return Plan(
        environment=desired.name,
        live_version=live.version,
        changes=(*upserts, *deletes),
        skipped=tuple(skipped),
        capacity=capacity(desired.resources(), held_resources),
    )


def _by_key(objects: Iterable[Managed], rank: dict[str, int]) -> dict[Key, Managed]:
    return {(o.kind, o.name): o for o in objects if o.kind in rank}


def diff_fields(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Leaf-level differences between two JSON values, in the order the fields are written."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in [*new, *(k for k in old if k not in new)]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append(FieldChange(path=sub, new=new[key], had_old=False))
            elif key not in new:
                changes.append(FieldChange(path=sub, old=old[key], has_new=False))
            else:
                changes += diff_fields(old[key], new[key], sub)
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in diff_fields(a, b, f"{path}[{i}]")
        ]
    if old != new or (type(old) is not type(new) and not _same_number(old, new)):
        return [FieldChange(path=path, old=old, new=new)]
    return []


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    )


def capacity(desired: Iterable[Resource], live: Iterable[Resource]) -> Capacity:
    """GPUs (tensorParallel × replicas) and $/month (GPU-hours × the pool's price), both sides."""
    desired, live = list(desired), list(live)
    prices = {
        r.name: r.spec.price_per_gpu_hour for r in [*live, *desired] if isinstance(r, GpuPool)
    }

    def gpus_and_cost(resources: list[Resource]) -> tuple[int, float]:
        gpus, cost = 0, 0.0
        for r in resources:
            if isinstance(r, Model) and r.spec.pool is not None:
                n = r.spec.tensor_parallel * r.spec.replicas
                gpus += n
                cost += n * prices.get(r.spec.pool, 0.0) * HOURS_PER_MONTH
        return gpus, cost

    gpus_before, cost_before = gpus_and_cost(live)
    gpus_after, cost_after = gpus_and_cost(desired)
    return Capacity(
        gpus_before=gpus_before,
        gpus_after=gpus_after,
        usd_per_month_before=round(cost_before, 2),
        usd_per_month_after=round(cost_after, 2),
    )
