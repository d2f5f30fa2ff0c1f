"""What carrying out a plan did, as data: one outcome per change (gitops-engine's
ResourceSyncResult), for the executors to return and the renderers to show."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controlplane.plan.model import Change


class Outcome(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"
    WOULD_APPLY = "would apply"


@dataclass(frozen=True)
class ChangeResult:
    change: Change
    outcome: Outcome
    error: str = ""


@dataclass(frozen=True)
class ApplyResult:
    target: str
    results: tuple[ChangeResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.outcome in (Outcome.APPLIED, Outcome.WOULD_APPLY) for r in self.results)

    @property
    def applied(self) -> tuple[Change, ...]:
        return tuple(r.change for r in self.results if r.outcome is Outcome.APPLIED)

    @property
    def error(self) -> str:
        """Every failed change's error, joined; empty when nothing failed."""
        return "; ".join(r.error for r in self.results if r.error)
