"""What the rest of controlplane asks of the history, as two protocols: readers (the API,
attribution, policy jobs) and writers (the reconciler, the policy runner, the rollbacker).
`controlplane.history.sql` implements both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from controlplane.history.records import (
    AppliedChange,
    Attempt,
    AttemptResult,
    Hold,
    NotificationRecord,
    NotificationStatus,
    PromotionRecord,
    RollbackRecord,
    Trigger,
)
from controlplane.policy import Evaluation
from controlplane.rollback.decision import Decision
from controlplane.spec.notification import NotificationEvent


class HistoryReader(Protocol):
    def attempts(self, environment: str, limit: int = 50) -> list[Attempt]:
        """Attempts of an environment, newest first."""
        ...

    def last(self, environment: str) -> Attempt | None: ...

    def last_success(self, environment: str) -> Attempt | None:
        """The newest attempt after which live matched its commit."""
        ...

    def evaluations(
        self,
        policy: str,
        limit: int = 50,
        environment: str | None = None,
        check: str | None = None,
        route: str | None = None,
    ) -> list[Evaluation]:
        """Results of a policy, newest first, optionally of one check of one route."""
        ...

    def rollbacks(
        self,
        environment: str | None = None,
        policy: str | None = None,
        statuses: Sequence[Decision] = (),
        limit: int = 50,
    ) -> list[RollbackRecord]:
        """Rollback decisions, newest first."""
        ...

    def notifications(
        self,
        environment: str | None = None,
        channel: str | None = None,
        dedupe_key: str | None = None,
        statuses: Sequence[NotificationStatus] = (),
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NotificationRecord]:
        """Notification deliveries, newest first; `since`: those at or after it."""
        ...

    def promotions(
        self,
        environment: str | None = None,
        kind: str | None = None,
        statuses: Sequence[Decision] = (),
        limit: int = 50,
        key: str | None = None,
    ) -> list[PromotionRecord]:
        """Promotion decisions, newest first."""
        ...

    def holds(self, environment: str, active: bool = True) -> list[Hold]:
        """Holds of an environment, newest first (only unreleased ones by default)."""
        ...


class HistoryWriter(Protocol):
    def start(
        self,
        environment: str,
        sha: str,
        author: str,
        message: str,
        trigger: Trigger,
        at: datetime,
    ) -> int:
        """Record an attempt as RUNNING; its id, for `finish`."""
        ...

    def finish(
        self,
        attempt_id: int,
        result: AttemptResult,
        at: datetime,
        error: str = "",
        changes: Sequence[AppliedChange] = (),
    ) -> None: ...

    def close_running(self, at: datetime, error: str) -> int:
        """Close attempts a crash left RUNNING as FAILED; how many there were."""
        ...

    def record_notification(
        self,
        environment: str,
        channel: str,
        channel_type: str,
        event: NotificationEvent,
        dedupe_key: str,
        title: str,
        status: NotificationStatus,
        at: datetime,
        error: str = "",
    ) -> int:
        """Record one delivery (PENDING, or why it is not sent); its id, for
        `finish_notification`."""
        ...

    def finish_notification(
        self,
        notification_id: int,
        status: NotificationStatus,
        at: datetime,
        error: str = "",
        attempts: int = 0,
    ) -> None: ...

    def close_pending_notifications(self, at: datetime, error: str) -> int:
        """Close deliveries a crash left PENDING as FAILED; how many there were."""
        ...

    def record_evaluations(self, evaluations: Sequence[Evaluation]) -> None: ...

    def canary_starts(
        self, environment: str, identities: Mapping[str, str], at: datetime
    ) -> dict[str, datetime]:
        """When each route's canary configuration (route -> identity) went live: the time first
        recorded for it, or `at`, recorded now."""
        ...

    def record_rollback(
        self,
        environment: str,
        policy: str,
        at: datetime,
        status: Decision,
        detail: str = "",
        commit_sha: str = "",
        branch: str = "",
        number: int | None = None,
        url: str = "",
    ) -> int: ...

    def update_rollback(
        self, rollback_id: int, status: Decision | None = None, passing_noted: bool | None = None
    ) -> None: ...

    def record_promotion(
        self,
        environment: str,
        route: str,
        kind: str,
        key: str,
        at: datetime,
        status: Decision,
        detail: str = "",
        branch: str = "",
        number: int | None = None,
        url: str = "",
    ) -> int: ...

    def update_promotion(
        self, promotion_id: int, status: Decision | None = None, stale_noted: bool | None = None
    ) -> None: ...

    def hold(self, environment: str, route: str, policy: str, reason: str, at: datetime) -> int:
        """Hold the route's canary percent at 0 from `at`; the hold's id."""
        ...

    def update_hold(
        self, hold_id: int, number: int | None = None, released_at: datetime | None = None
    ) -> None: ...


class History(HistoryReader, HistoryWriter, Protocol):
    """Both sides, for the one process that owns the database."""
