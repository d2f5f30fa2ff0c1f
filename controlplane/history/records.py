"""What the history holds, as typed values: reconcile attempts with the changes they applied,
and rollback decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from controlplane.plan import ChangeKind
from controlplane.rollback.decision import Decision
from controlplane.spec.notification import NotificationEvent


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
    HOLD = "hold"  # a hold was placed or released (a critical canary's weight set to 0 at once)


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


class NotificationStatus(StrEnum):
    PENDING = "pending"  # admitted and queued; being sent
    SENT = "sent"  # the receiver accepted it
    FAILED = "failed"  # not delivered after retries; `error` says why
    DEDUPLICATED = "deduplicated"  # the same event went to this channel within its minInterval
    RATE_LIMITED = "rate-limited"  # the channel had its maxPerMinute already; not sent


@dataclass(frozen=True)
class NotificationRecord:
    """One delivery of an event to one channel of an environment, or why it was not sent. It
    holds no credential: the channel by name, never its URL or key."""

    id: int
    environment: str
    channel: str
    channel_type: str
    event: NotificationEvent
    dedupe_key: str
    title: str
    status: NotificationStatus
    error: str
    attempts: int
    at: datetime
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "environment": self.environment,
            "channel": self.channel,
            "channelType": self.channel_type,
            "event": self.event.value,
            "dedupeKey": self.dedupe_key,
            "title": self.title,
            "status": self.status.value,
            "error": self.error,
            "attempts": self.attempts,
            "at": self.at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
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


@dataclass(frozen=True)
class PromotionRecord:
    """One decision on a promotion: a pull request opened (or written), or why none was."""

    id: int
    environment: str
    route: str
    kind: str  # PromotionKind
    key: str
    at: datetime
    status: Decision
    detail: str
    branch: str
    number: int | None
    url: str
    stale_noted: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "route": self.route,
            "kind": self.kind,
            "key": self.key,
            "at": self.at.isoformat(),
            "status": self.status.value,
            "detail": self.detail,
            "branch": self.branch,
            "number": self.number,
            "url": self.url,
            "stale": self.stale_noted,
        }


@dataclass(frozen=True)
class Hold:
    """A live value controlplane holds apart from git until a pull request is decided: a
    critical canary's percent set to 0 while its rollback pull request waits for review."""

    id: int
    environment: str
    route: str
    policy: str
    reason: str
    at: datetime
    number: int | None  # the rollback pull request it waits for, once known
    released_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "route": self.route,
            "field": "spec.canary.percent",
            "value": 0,
            "policy": self.policy,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "pullRequest": self.number,
            "releasedAt": self.released_at.isoformat() if self.released_at else None,
        }
