"""The plan as a value: what would change, field by field, in the order it must be applied.

A Plan is frozen and JSON-serializable; the JSON renderer is its serialization, and the text and
Markdown renderers read the same fields.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from controlplane.spec.base import FrozenValue


class ChangeKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class FieldChange(FrozenValue):
    """One leaf that differs. `old`/`new` are absent (None with the flag False) when missing."""

    path: str
    old: Any = None
    new: Any = None
    had_old: bool = True
    has_new: bool = True


class Change(FrozenValue):
    action: ChangeKind
    kind: str
    name: str
    # Whole documents (JSON form), for rendering creates and deletes and for applying.
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: tuple[FieldChange, ...] = ()
    # The live version the change was planned against; writes are conditional on it.
    live_version: str | None = None
    # The config resources the object is made from (`Route/chat`), which history records so
    # that a breach can be blamed on them whatever the target calls its objects.
    sources: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


class Skipped(FrozenValue):
    """A live object the plan leaves alone, and why."""

    kind: str
    name: str
    reason: str


class Capacity(FrozenValue):
    """GPUs and their monthly cost, before and after the plan."""

    gpus_before: int
    gpus_after: int
    usd_per_month_before: float
    usd_per_month_after: float

    @property
    def gpu_delta(self) -> int:
        return self.gpus_after - self.gpus_before

    @property
    def usd_per_month_delta(self) -> float:
        return self.usd_per_month_after - self.usd_per_month_before


class Plan(FrozenValue):
    environment: str
    # Which target's own objects the plan is about ("": the environment's resources).
    target: str = ""
    live_version: str = ""
    changes: tuple[Change, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    capacity: Capacity = Field(
        default_factory=lambda: Capacity(
            gpus_before=0, gpus_after=0, usd_per_month_before=0, usd_per_month_after=0
        )
    )

    @property
    def empty(self) -> bool:
        return not self.changes

    def count(self, action: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.action is action)
