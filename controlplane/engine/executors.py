"""Executors: carry a plan out against a target, one change at a time, in the plan's order, or
report what would be done (dry-run is a different executor, not a flag).

Before the first write the target's live version is read again: a plan made against a state
that has changed since is not applied at all (StaleLiveState). Outcomes are data: each change is
applied, failed (with the error), or not attempted because a change of another kind before it
failed: dependents never run ahead of what they depend on, while siblings of a change the target
refused (another adapter, another model) still go. A target that cannot be reached stops the
rest. The next apply re-reads the live state and completes
the rest. A target that writes all changes at once (a config file and a reload) applies them
all or none.
"""

from __future__ import annotations

from controlplane.errors import StaleLiveState, TargetError, TargetUnavailable
from controlplane.plan import ApplyResult, ChangeResult, Outcome, Plan
from controlplane.targets import Target


def apply_plan(plan: Plan, target: Target) -> ApplyResult:
    if plan.changes and target.read().version != plan.live_version:
        raise StaleLiveState(
            f"the live state of {target.name!r} changed since the plan was made; nothing was "
            "applied. Plan again."
        )
    if target.capabilities.all_at_once:
        return _all_at_once(plan, target)
    results: list[ChangeResult] = []
    failed_kinds: set[str] = set()
    unreachable = False
    for change in plan.changes:
        if unreachable or failed_kinds - {change.kind}:
            results.append(ChangeResult(change, Outcome.NOT_ATTEMPTED))
            continue
        try:
            target.apply(change)
        except TargetError as exc:
            failed_kinds.add(change.kind)
            unreachable = isinstance(exc, TargetUnavailable)
            results.append(ChangeResult(change, Outcome.FAILED, str(exc)))
        else:
            results.append(ChangeResult(change, Outcome.APPLIED))
    return ApplyResult(target.name, tuple(results))


def _all_at_once(plan: Plan, target: Target) -> ApplyResult:
    if not plan.changes:
        return ApplyResult(target.name, ())
    try:
        target.apply_all(plan.changes)
    except TargetError as exc:
        outcome, error = Outcome.FAILED, str(exc)
    else:
        outcome, error = Outcome.APPLIED, ""
    return ApplyResult(target.name, tuple(ChangeResult(c, outcome, error) for c in plan.changes))


def dry_run(plan: Plan, target_name: str) -> ApplyResult:
    """The executor that changes nothing: every change is reported as what it would do."""
    return ApplyResult(
        target_name, tuple(ChangeResult(c, Outcome.WOULD_APPLY) for c in plan.changes)
    )
