"""Executors: carry a plan out against a target, one change at a time, in the plan's order.

Outcomes are data: each change is applied, failed (with the error), or not attempted because an
earlier one failed. Stopping at the first failure keeps dependents from running ahead of what
they depend on; the next apply re-reads the live state and completes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from controlplane.errors import TargetError
from controlplane.plan import Change, Plan
from controlplane.targets import Target


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


def apply_plan(plan: Plan, target: Target) -> ApplyResult:
    results: list[ChangeResult] = []
    failed = False
    for change in plan.changes:
        if failed:
            results.append(ChangeResult(change, Outcome.NOT_ATTEMPTED))
            continue
        try:
            target.apply(change)
        except TargetError as exc:
            failed = True
            results.append(ChangeResult(change, Outcome.FAILED, str(exc)))
        else:
            results.append(ChangeResult(change, Outcome.APPLIED))
    return ApplyResult(target.name, tuple(results))


def dry_run(plan: Plan, target_name: str) -> ApplyResult:
    """The executor that changes nothing: every change is reported as what it would do."""
    return ApplyResult(
        target_name, tuple(ChangeResult(c, Outcome.WOULD_APPLY) for c in plan.changes)
    )


def render_apply(result: ApplyResult) -> str:
    lines = [
        f"  {r.outcome.value:>13}  {r.change.action.value:<6} {r.change.ref}"
        + (f": {r.error}" if r.error else "")
        for r in result.results
    ]
    counts = {o: sum(1 for r in result.results if r.outcome is o) for o in Outcome}
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n) or "nothing to do"
    return "\n".join([f"Apply to {result.target}:", *lines, f"Apply: {summary}."]) + "\n"
