"""Plans: the changes that make a live state equal to the desired state, and their renderings."""

from controlplane.plan.compute import capacity, compute_plan, diff_fields, document_of
from controlplane.plan.model import Capacity, Change, ChangeKind, FieldChange, Plan, Skipped
from controlplane.plan.render import render_json, render_markdown, render_text
from controlplane.plan.simulate import owned_resource, simulate

__all__ = [
    "Capacity",
    "Change",
    "ChangeKind",
    "FieldChange",
    "Plan",
    "Skipped",
    "capacity",
    "compute_plan",
    "diff_fields",
    "document_of",
    "owned_resource",
    "render_json",
    "render_markdown",
    "render_text",
    "simulate",
]
