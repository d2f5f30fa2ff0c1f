"""The history in SQL (SQLite by default; any SQLAlchemy URL, e.g. PostgreSQL).

One row per reconcile attempt (environment, commit, start and end, result, error, the changes
applied), one per policy evaluation, one per rollback decision, one per notification delivery.
Every database failure leaves this module as HistoryError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from controlplane.errors import HistoryError
from controlplane.history.records import (
    SUCCESSES,
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

P = ParamSpec("P")
T = TypeVar("T")


class Base(DeclarativeBase):
    pass


class AttemptRow(Base):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(63), index=True)
    commit_sha: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    trigger: Mapped[str] = mapped_column(String(32), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of AppliedChange

    # last_success: the newest successful attempt of an environment, found without a scan.
    __table_args__ = (Index("ix_attempts_environment_result_id", "environment", "result", "id"),)


class EvaluationRow(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    policy: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    check: Mapped[str] = mapped_column(String(127))
    environment: Mapped[str] = mapped_column(String(63), index=True)
    route: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    document: Mapped[str] = mapped_column(Text)  # the whole Evaluation as JSON

    # The runner's question each tick (the last results of one check of one route) and the
    # API's (the last results of a policy) are answered from these, never by a scan.
    __table_args__ = (
        Index("ix_evaluations_check", "policy", "environment", "route", "check", "id"),
        Index("ix_evaluations_policy_id", "policy", "id"),
    )


class CanaryStartRow(Base):
    """When a route's canary, in one configuration (its identity), was first seen live."""

    __tablename__ = "canary_starts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(63))
    route: Mapped[str] = mapped_column(String(63))
    identity: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("environment", "route", "identity"),)


class NotificationRow(Base):
    """One delivery of an event to a channel, or why it was not sent (never a credential)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(63))
    channel: Mapped[str] = mapped_column(String(63))
    channel_type: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    # Every notify asks "was this key sent to this channel lately?" and "how many in the last
    # minute?", and the API lists an environment's deliveries: answered from these, never a scan.
    __table_args__ = (
        Index("ix_notifications_dedupe", "environment", "channel", "dedupe_key", "at"),
        Index("ix_notifications_channel_at", "environment", "channel", "at"),
    )


class RollbackRow(Base):
    __tablename__ = "rollbacks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(63), index=True)
    policy: Mapped[str] = mapped_column(String(63), index=True)
    commit_sha: Mapped[str] = mapped_column(String(64), default="")  # the blamed commit
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    branch: Mapped[str] = mapped_column(String(255), default="")
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    url: Mapped[str] = mapped_column(Text, default="")
    passing_noted: Mapped[bool] = mapped_column(Boolean, default=False)


class PromotionRow(Base):
    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(63))
    route: Mapped[str] = mapped_column(String(63), default="")
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    branch: Mapped[str] = mapped_column(String(255), default="")
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    url: Mapped[str] = mapped_column(Text, default="")
    stale_noted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_promotions_environment_kind_id", "environment", "kind", "id"),)


class HoldRow(Base):
    __tablename__ = "holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(63), index=True)
    route: Mapped[str] = mapped_column(String(63))
    policy: Mapped[str] = mapped_column(String(63))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def _utc(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _attempt(row: AttemptRow) -> Attempt:
    return Attempt(
        id=row.id,
        environment=row.environment,
        commit_sha=row.commit_sha,
        author=row.author,
        message=row.message,
        trigger=Trigger(row.trigger),
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at) if row.finished_at else None,
        result=AttemptResult(row.result),
        error=row.error,
        changes=tuple(AppliedChange.from_dict(c) for c in json.loads(row.changes)),
    )


def _rollback(row: RollbackRow) -> RollbackRecord:
    return RollbackRecord(
        id=row.id,
        environment=row.environment,
        policy=row.policy,
        commit_sha=row.commit_sha,
        at=_utc(row.at),
        status=Decision(row.status),
        detail=row.detail,
        branch=row.branch,
        number=row.number,
        url=row.url,
        passing_noted=row.passing_noted,
    )


def _promotion(row: PromotionRow) -> PromotionRecord:
    return PromotionRecord(
        id=row.id,
        environment=row.environment,
        route=row.route,
        kind=row.kind,
        key=row.key,
        at=_utc(row.at),
        status=Decision(row.status),
        detail=row.detail,
        branch=row.branch,
        number=row.number,
        url=row.url,
        stale_noted=row.stale_noted,
    )


def _hold(row: HoldRow) -> Hold:
    return Hold(
        id=row.id,
        environment=row.environment,
        route=row.route,
        policy=row.policy,
        reason=row.reason,
        at=_utc(row.at),
        number=row.number,
        released_at=_utc(row.released_at) if row.released_at else None,
    )


def _notification(row: NotificationRow) -> NotificationRecord:
    return NotificationRecord(
        id=row.id,
        environment=row.environment,
        channel=row.channel,
        channel_type=row.channel_type,
        event=NotificationEvent(row.event),
        dedupe_key=row.dedupe_key,
        title=row.title,
        status=NotificationStatus(row.status),
        error=row.error,
        attempts=row.attempts,
        at=_utc(row.at),
        finished_at=_utc(row.finished_at) if row.finished_at else None,
    )


def _database(method: Callable[P, T]) -> Callable[P, T]:
    """Let no SQLAlchemy error out: the caller sees HistoryError with the database's reason."""

    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise HistoryError(f"history database: {type(exc).__name__}: {reason}") from exc

    return call


class SqlHistory:
    """HistoryReader and HistoryWriter over one SQLAlchemy engine."""

    def __init__(self, url: str) -> None:
        try:
            self.engine: Engine = create_engine(url)
        except (ArgumentError, ImportError, ValueError) as exc:
            raise HistoryError(f"history database URL {url.split('://')[0]}://…: {exc}") from exc
        if url.startswith("sqlite"):

            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(connection: Any, _: Any) -> None:
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
                cursor.execute("PRAGMA synchronous=FULL")  # a kill -9 loses no committed row
                cursor.close()

        _database(Base.metadata.create_all)(self.engine)
        for table in Base.metadata.sorted_tables:  # a database made by an older version
            for index in table.indexes:
                _database(index.create)(self.engine, checkfirst=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # --- writer ------------------------------------------------------------------------------

    def start(
        self,
        environment: str,
        sha: str,
        author: str,
        message: str,
        trigger: Trigger,
        at: datetime,
    ) -> int:
        return self._insert(
            AttemptRow(
                environment=environment,
                commit_sha=sha,
                author=author,
                message=message,
                trigger=trigger.value,
                started_at=at,
                result=AttemptResult.RUNNING.value,
            )
        )

    @_database
    def _insert(self, row: Base) -> int:
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return int(row.id)  # type: ignore[attr-defined]

    @_database
    def finish(
        self,
        attempt_id: int,
        result: AttemptResult,
        at: datetime,
        error: str = "",
        changes: Sequence[AppliedChange] = (),
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(AttemptRow, attempt_id)
            if row is None:
                raise HistoryError(f"no attempt {attempt_id} to finish")
            row.result = result.value
            row.finished_at = at
            row.error = error
            row.changes = json.dumps([c.to_dict() for c in changes])

    @_database
    def close_running(self, at: datetime, error: str) -> int:
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(
                    select(AttemptRow).where(AttemptRow.result == AttemptResult.RUNNING.value)
                )
            )
            for row in rows:
                row.result, row.finished_at, row.error = AttemptResult.FAILED.value, at, error
            return len(rows)

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
        done = status is not NotificationStatus.PENDING
        return self._insert(
            NotificationRow(
                environment=environment,
                channel=channel,
                channel_type=channel_type,
                event=event.value,
                dedupe_key=dedupe_key,
                title=title,
                status=status.value,
                error=error,
                attempts=0,
                at=at,
                finished_at=at if done else None,
            )
        )

    @_database
    def finish_notification(
        self,
        notification_id: int,
        status: NotificationStatus,
        at: datetime,
        error: str = "",
        attempts: int = 0,
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(NotificationRow, notification_id)
            if row is None:
                raise HistoryError(f"no notification {notification_id} to finish")
            row.status, row.finished_at = status.value, at
            row.error, row.attempts = error, attempts

    @_database
    def close_pending_notifications(self, at: datetime, error: str) -> int:
        pending = NotificationStatus.PENDING.value
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(select(NotificationRow).where(NotificationRow.status == pending))
            )
            for row in rows:
                row.status, row.finished_at = NotificationStatus.FAILED.value, at
                row.error = error
            return len(rows)

    @_database
    def record_evaluations(self, evaluations: Sequence[Evaluation]) -> None:
        with self._sessions.begin() as session:
            session.add_all(
                EvaluationRow(
                    policy=e.policy,
                    kind=e.kind,
                    check=e.check,
                    environment=e.environment,
                    route=e.route,
                    at=e.at,
                    outcome=e.outcome.value,
                    document=e.model_dump_json(),
                )
                for e in evaluations
            )

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
    ) -> int:
        return self._insert(
            RollbackRow(
                environment=environment,
                policy=policy,
                commit_sha=commit_sha,
                at=at,
                status=status.value,
                detail=detail,
                branch=branch,
                number=number,
                url=url,
                passing_noted=False,
            )
        )

    @_database
    def update_rollback(
        self, rollback_id: int, status: Decision | None = None, passing_noted: bool | None = None
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(RollbackRow, rollback_id)
            if row is None:
                raise HistoryError(f"no rollback {rollback_id} to update")
            if status is not None:
                row.status = status.value
            if passing_noted is not None:
                row.passing_noted = passing_noted

    @_database
    def canary_starts(
        self, environment: str, identities: Mapping[str, str], at: datetime
    ) -> dict[str, datetime]:
        """When each route's canary configuration (route -> identity) went live: as recorded,
        or `at` for those not seen before, recorded now."""
        query = select(CanaryStartRow).where(CanaryStartRow.environment == environment)
        with self._sessions.begin() as session:
            known = {(r.route, r.identity): _utc(r.started_at) for r in session.scalars(query)}
            found: dict[str, datetime] = {}
            for route, identity in identities.items():
                if (route, identity) not in known:
                    session.add(
                        CanaryStartRow(
                            environment=environment, route=route, identity=identity, started_at=at
                        )
                    )
                found[route] = known.get((route, identity), at)
            return found

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
    ) -> int:
        return self._insert(
            PromotionRow(
                environment=environment,
                route=route,
                kind=kind,
                key=key,
                at=at,
                status=status.value,
                detail=detail,
                branch=branch,
                number=number,
                url=url,
                stale_noted=False,
            )
        )

    @_database
    def update_promotion(
        self, promotion_id: int, status: Decision | None = None, stale_noted: bool | None = None
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(PromotionRow, promotion_id)
            if row is None:
                raise HistoryError(f"no promotion {promotion_id} to update")
            if status is not None:
                row.status = status.value
            if stale_noted is not None:
                row.stale_noted = stale_noted

    def hold(self, environment: str, route: str, policy: str, reason: str, at: datetime) -> int:
        return self._insert(
            HoldRow(environment=environment, route=route, policy=policy, reason=reason, at=at)
        )

    @_database
    def update_hold(
        self, hold_id: int, number: int | None = None, released_at: datetime | None = None
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(HoldRow, hold_id)
            if row is None:
                raise HistoryError(f"no hold {hold_id} to update")
            if number is not None:
                row.number = number
            if released_at is not None:
                row.released_at = released_at

    # --- reader ------------------------------------------------------------------------------

    @_database
    def attempts(self, environment: str, limit: int = 50) -> list[Attempt]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(AttemptRow)
                .where(AttemptRow.environment == environment)
                .order_by(AttemptRow.id.desc())
                .limit(limit)
            )
            return [_attempt(r) for r in rows]

    def last(self, environment: str) -> Attempt | None:
        found = self.attempts(environment, 1)
        return found[0] if found else None

    @_database
    def last_success(self, environment: str) -> Attempt | None:
        with Session(self.engine) as session:
            row = session.scalars(
                select(AttemptRow)
                .where(
                    AttemptRow.environment == environment,
                    AttemptRow.result.in_([r.value for r in SUCCESSES]),
                )
                .order_by(AttemptRow.id.desc())
                .limit(1)
            ).first()
            return _attempt(row) if row else None

    @_database
    def evaluations(
        self,
        policy: str,
        limit: int = 50,
        environment: str | None = None,
        check: str | None = None,
        route: str | None = None,
    ) -> list[Evaluation]:
        query = select(EvaluationRow).where(EvaluationRow.policy == policy)
        if environment is not None:
            query = query.where(EvaluationRow.environment == environment)
        if check is not None:
            query = query.where(EvaluationRow.check == check)
        if route is not None:
            query = query.where(EvaluationRow.route == route)
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(EvaluationRow.id.desc()).limit(limit))
            return [Evaluation.model_validate_json(r.document) for r in rows]

    @_database
    def rollbacks(
        self,
        environment: str | None = None,
        policy: str | None = None,
        statuses: Sequence[Decision] = (),
        limit: int = 50,
    ) -> list[RollbackRecord]:
        query = select(RollbackRow)
        if environment is not None:
            query = query.where(RollbackRow.environment == environment)
        if policy is not None:
            query = query.where(RollbackRow.policy == policy)
        if statuses:
            query = query.where(RollbackRow.status.in_([s.value for s in statuses]))
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(RollbackRow.id.desc()).limit(limit))
            return [_rollback(r) for r in rows]

    @_database
    def notifications(
        self,
        environment: str | None = None,
        channel: str | None = None,
        dedupe_key: str | None = None,
        statuses: Sequence[NotificationStatus] = (),
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[NotificationRecord]:
        query = select(NotificationRow)
        if environment is not None:
            query = query.where(NotificationRow.environment == environment)
        if channel is not None:
            query = query.where(NotificationRow.channel == channel)
        if dedupe_key is not None:
            query = query.where(NotificationRow.dedupe_key == dedupe_key)
        if statuses:
            query = query.where(NotificationRow.status.in_([s.value for s in statuses]))
        if since is not None:
            query = query.where(NotificationRow.at >= since)
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(NotificationRow.id.desc()).limit(limit))
            return [_notification(r) for r in rows]

    @_database
    def promotions(
        self,
        environment: str | None = None,
        kind: str | None = None,
        statuses: Sequence[Decision] = (),
        limit: int = 50,
        key: str | None = None,
    ) -> list[PromotionRecord]:
        query = select(PromotionRow)
        if environment is not None:
            query = query.where(PromotionRow.environment == environment)
        if kind is not None:
            query = query.where(PromotionRow.kind == kind)
        if key is not None:
            query = query.where(PromotionRow.key == key)
        if statuses:
            query = query.where(PromotionRow.status.in_([s.value for s in statuses]))
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(PromotionRow.id.desc()).limit(limit))
            return [_promotion(r) for r in rows]

    @_database
    def holds(self, environment: str, active: bool = True) -> list[Hold]:
        """Holds of an environment, newest first: only those not released, by default."""
        query = select(HoldRow).where(HoldRow.environment == environment)
        if active:
            query = query.where(HoldRow.released_at.is_(None))
        with Session(self.engine) as session:
            return [_hold(r) for r in session.scalars(query.order_by(HoldRow.id.desc()))]
