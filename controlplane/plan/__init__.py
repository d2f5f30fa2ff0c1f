"""Plans: the changes that make a live state equal to the desired state, as values. Pure.

Rendering them is `controlplane.render`'s; carrying them out is the engine's executors'."""

from controlplane.plan.compute import (
    LIVE_KIND_NAMES,
    capacity,
    compute_plan,
    diff_fields,
    document_of,
    managed,
)
from controlplane.plan.model import Capacity, Change, ChangeKind, FieldChange, Plan, Skipped
from controlplane.plan.outcome import ApplyResult, ChangeResult, Outcome
from controlplane.plan.simulate import owned_resource, simulate

__all__ = [
    "LIVE_KIND_NAMES",
    "ApplyResult",
    "Capacity",
    "Change",
    "ChangeKind",
    "ChangeResult",
    "FieldChange",
    "Outcome",
    "Plan",
    "Skipped",
    "capacity",
    "compute_plan",
    "diff_fields",
    "document_of",
    "managed",
    "owned_resource",
    "simulate",
]
