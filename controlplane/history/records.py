"""What the history holds, as typed values: reconcile attempts with the changes they applied,
and rollback decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from controlplane.plan import ChangeKind
from controlplane.rollback.decision import Decision


class AttemptResult(StrEnum):
    APPLIED = "applied"  # changes were applied and live now matches the commit
    IN_SYNC = "in-sync"  # nothing to change
    INVALID = "invalid"  # the commit does not validate; nothing applied
    FAILED = "failed"  # a change could not be applied; retried later
    DRIFT = "drift"  # live differs from an applied commit and self-heal is off
    RUNNING = "running"  # started, not finished (a crash leaves it so)


SUCCESSES = (AttemptResult.APPLIED, AttemptResult.IN_SYNC)  # live matched the commit after them


class Trigger(StrEnum):
    """Why a reconcile pass ran, strongest first: when passes coalesce, the strongest wins."""

    MANUAL = "manual"  # a person asked (API sync): applies even over drift
    WEBHOOK = "webhook"
    STARTUP = "startup"
    POLL = "poll"
    SELF_HEAL = "self-heal"  # recorded for an apply that reverted drift
    VALIDATE = "validate"  # recorded for a commit that did not validate


@dataclass(frozen=True)
class AppliedChange:
    """One change an attempt applied to one target."""

    action: ChangeKind
    kind: str
    name: str
    target: str
    # The config resources the target's object was made from (see controlplane.plan.Change).
    sources: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "action": self.action.value,
            "kind": self.kind,
            "name": self.name,
            "target": self.target,
        }
        if self.sources and self.sources != (self.ref,):
            document["sources"] = list(self.sources)
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppliedChange:
        return cls(
            ChangeKind(data["action"]),
            data["kind"],
            data["name"],
            data.get("target", ""),
            tuple(data.get("sources", ())),
        )


@dataclass(frozen=True)
class Attempt:
    id: int
    environment: str
    commit_sha: str
    author: str
    message: str
    trigger: Trigger
    started_at: datetime
    finished_at: datetime | None
    result: AttemptResult
    error: str
    changes: tuple[AppliedChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "environment": self.environment,
            "commit": self.commit_sha,
            "author": self.author,
            "message": self.message,
            "trigger": self.trigger.value,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "result": self.result.value,
            "error": self.error,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(frozen=True)
class RollbackRecord:
    """One decision on a failed policy: a pull request opened (or written), or why none was."""

    id: int
    environment: str
    policy: str
    commit_sha: str  # the blamed commit
    at: datetime
    status: Decision
    detail: str
    branch: str
    number: int | None
    url: str
    passing_noted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "policy": self.policy,
            "commit": self.commit_sha,
            "at": self.at.isoformat(),
            "status": self.status.value,
            "detail": self.detail,
            "branch": self.branch,
            "number": self.number,
            "url": self.url,
        }
