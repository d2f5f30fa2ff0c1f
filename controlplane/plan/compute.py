"""plan(desired, live) -> Plan. Pure: values in, a value out, the same bytes every time.

Pair first, then diff (as gitops-engine does): resources are paired by (kind, name); a missing
side is a create or a delete, and each pair is compared field by field in its JSON form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from controlplane.plan.model import Capacity, Change, ChangeKind, FieldChange, Plan, Skipped
from controlplane.spec import LIVE_KINDS, DesiredState, GpuPool, LiveState, Model, Resource
from controlplane.spec.state import ANNOTATION_PREFIX, is_owned

HOURS_PER_MONTH = 730  # 365 × 24 / 12, as cloud price sheets use

Key = tuple[str, str]


def document_of(resource: Resource) -> dict[str, Any]:
    """The JSON form that is compared and sent, without controlplane's own bookkeeping."""
    document = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    annotations = document["metadata"]["annotations"]
    document["metadata"]["annotations"] = {
        k: v for k, v in annotations.items() if not k.startswith(ANNOTATION_PREFIX)
    }
    return document


def compute_plan(
    desired: DesiredState, live: LiveState, kinds: Sequence[type[Resource]] = LIVE_KINDS
) -> Plan:
    """The ordered changes that make `live` equal to `desired`, for the kinds a target holds."""
    rank = {kind.KIND: i for i, kind in enumerate(kinds)}
    wanted = _by_key(desired.resources(), rank)
    current = _by_key(live.resources, rank)
    upserts: list[Change] = []
    deletes: list[Change] = []
    skipped: list[Skipped] = []
    for key in sorted(wanted.keys() | current.keys(), key=lambda k: (rank[k[0]], k[1])):
        kind, name = key
        want, have = wanted.get(key), current.get(key)
        version = live.versions.get(key)
        if have is None:
            assert want is not None
            upserts.append(
                Change(action=ChangeKind.CREATE, kind=kind, name=name, after=document_of(want))
            )
        elif want is None:
            if not is_owned(have):
                skipped.append(Skipped(kind=kind, name=name, reason="not created by controlplane"))
            elif not desired.environment.spec.prune:
                skipped.append(Skipped(kind=kind, name=name, reason="prune is off"))
            else:
                deletes.append(
                    Change(
                        action=ChangeKind.DELETE,
                        kind=kind,
                        name=name,
                        before=document_of(have),
                        live_version=version,
                    )
                )
        else:
            before, after = document_of(have), document_of(want)
            fields = tuple(diff_fields(before, after))
            if fields or not is_owned(have):
                upserts.append(
                    Change(
                        action=ChangeKind.UPDATE,
                        kind=kind,
                        name=name,
                        before=before,
                        after=after,
                        fields=fields,
                        live_version=version,
                    )
                )
    # Dependencies first on the way in, dependents first on the way out: a route never points
    # at a model that is not live yet, nor at one already deleted.
    deletes.reverse()
    return Plan(
        environment=desired.name,
        live_version=live.version,
        changes=(*upserts, *deletes),
        skipped=tuple(skipped),
        capacity=capacity(desired.resources(), live.resources),
    )


def _by_key(resources: Iterable[Resource], rank: dict[str, int]) -> dict[Key, Resource]:
    return {(r.KIND, r.name): r for r in resources if r.KIND in rank}


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
