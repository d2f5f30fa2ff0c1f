"""Evaluation results: a tri-state outcome and the evidence that led to it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from controlplane.spec import Resource
from controlplane.spec.base import FrozenValue


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class Evidence(FrozenValue):
    name: str
    query: str
    value: float | None = None
    threshold: float | None = None
    window: str = ""
    samples: float | None = None
    note: str = ""
    # PromQL that is above `threshold` exactly while this evidence breaches: a range query of it
    # finds when a breach began (controlplane.rollback). Empty when no one query says so.
    signal: str = ""


class Evaluation(FrozenValue):
    policy: str
    kind: str
    check: str
    environment: str
    route: str
    at: datetime
    outcome: Outcome
    reason: str
    evidence: tuple[Evidence, ...] = ()
    # Shown past a critical bound: fails at once, without waiting for `failAfter` evaluations.
    critical: bool = False


def combine(outcomes: list[Outcome]) -> Outcome:
    """Any failure fails; otherwise anything unknown leaves the whole unknown."""
    if Outcome.FAIL in outcomes:
        return Outcome.FAIL
    if Outcome.INCONCLUSIVE in outcomes or not outcomes:
        return Outcome.INCONCLUSIVE
    return Outcome.PASS


def evaluation(
    policy: Resource,
    check: str,
    environment: str,
    route: str,
    at: datetime,
    outcome: Outcome,
    reason: str,
    evidence: Iterable[Evidence] = (),
    critical: bool = False,
) -> Evaluation:
    """A result of `policy`, named by its kind and name."""
    return Evaluation(
        policy=policy.name,
        kind=policy.KIND,
        check=check,
        environment=environment,
        route=route,
        at=at,
        outcome=outcome,
        reason=reason,
        evidence=tuple(evidence),
        critical=critical,
    )
