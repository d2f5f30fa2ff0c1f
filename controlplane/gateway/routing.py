"""Which model serves a request: sticky hashing into canary and variant buckets.

A caller's key hashes to a bucket in [0, 10000). The canary takes the lowest `percent` of those
buckets, so raising the percent only moves callers into the canary, never out of it, and a caller
keeps its arm for as long as the route's weights stay the same. The variant split uses a second,
independent hash, so the canary draw does not skew the A/B proportions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from controlplane.spec import Route

BUCKETS = 10_000  # resolution of 0.01 %


@dataclass(frozen=True)
class Arm:
    variant: str
    model: str


def bucket(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose_arm(route: Route, key: str) -> Arm:
    spec = route.spec
    if spec.canary is not None and bucket(route.name, "canary", key) < spec.canary.percent * 100:
        return Arm("canary", spec.canary.model)
    if spec.variants:
        draw = bucket(route.name, "variant", key)
        cumulative = 0.0
        for variant in spec.variants:
            cumulative += variant.weight * 100
            if draw < cumulative:
                return Arm(variant.name, variant.model)
        last = spec.variants[-1]
        return Arm(last.name, last.model)
    return Arm("default", spec.model)


def candidates(route: Route, arm: Arm) -> list[str]:
    """The chosen model, then the route's fallbacks in order, each once."""
    return list(dict.fromkeys([arm.model, *route.spec.fallbacks]))
