"""Apply history in SQL (SQLite by default; any SQLAlchemy URL, e.g. PostgreSQL).

One row per reconcile attempt: environment, commit (sha, author, message), start and end,
result, error, and the changes applied. Attribution asks two questions of it: which commit was
live at time T, and which applied commits changed resource R, and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, Text, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from controlplane.policy.model import Evaluation


class Result(StrEnum):
    APPLIED = "applied"  # changes were applied and live now matches the commit
    IN_SYNC = "in-sync"  # nothing to change
    INVALID = "invalid"  # the commit does not validate; nothing applied
    FAILED = "failed"  # a change could not be applied; retried later
    DRIFT = "drift"  # live differs from an applied commit and self-heal is off
    RUNNING = "running"  # started, not finished (a crash leaves it so)


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
    changes: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of {action, kind, name}


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


class RollbackRow(Base):
    """One decision on a failed policy: a pull request opened (or written, in dry-run), or why
    none was."""

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


@dataclass(frozen=True)
class Rollback:
    id: int
    environment: str
    policy: str
    commit_sha: str
    at: datetime
    status: str
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
            "status": self.status,
            "detail": self.detail,
            "branch": self.branch,
            "number": self.number,
            "url": self.url,
        }


@dataclass(frozen=True)
class Attempt:
    id: int
    environment: str
    commit_sha: str
    author: str
    message: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    result: Result
    error: str
    changes: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "environment": self.environment,
            "commit": self.commit_sha,
            "author": self.author,
            "message": self.message,
            "trigger": self.trigger,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "result": self.result.value,
            "error": self.error,
            "changes": list(self.changes),
        }


def _utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _attempt(row: AttemptRow) -> Attempt:
    started = _utc(row.started_at)
    assert started is not None
    return Attempt(
        id=row.id,
        environment=row.environment,
        commit_sha=row.commit_sha,
        author=row.author,
        message=row.message,
        trigger=row.trigger,
        started_at=started,
        finished_at=_utc(row.finished_at),
        result=Result(row.result),
        error=row.error,
        changes=tuple(json.loads(row.changes)),
    )


class History:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if url.startswith("sqlite"):

            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(connection: Any, _: Any) -> None:
                cursor = connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
                cursor.execute("PRAGMA synchronous=FULL")  # a kill -9 loses no committed row
                cursor.close()

        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def start(
        self, environment: str, sha: str, author: str, message: str, trigger: str, at: datetime
    ) -> int:
        return self._insert(
            AttemptRow(
                environment=environment,
                commit_sha=sha,
                author=author,
                message=message,
                trigger=trigger,
                started_at=at,
                result=Result.RUNNING.value,
            )
        )

    def _insert(self, row: AttemptRow | RollbackRow) -> int:
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return row.id

    def finish(
        self,
        attempt_id: int,
        result: Result,
        at: datetime,
        error: str = "",
        changes: list[dict[str, Any]] | None = None,
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(AttemptRow, attempt_id)
            assert row is not None
            row.result = result.value
            row.finished_at = at
            row.error = error
            row.changes = json.dumps(changes or [])

    def close_running(self, at: datetime, error: str) -> int:
        with self._sessions.begin() as session:
            rows = list(
                session.scalars(select(AttemptRow).where(AttemptRow.result == Result.RUNNING.value))
            )
            for row in rows:
                row.result, row.finished_at, row.error = Result.FAILED.value, at, error
            return len(rows)

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

    def last_success(self, environment: str) -> Attempt | None:
        """The newest attempt after which live matched its commit."""
        with Session(self.engine) as session:
            row = session.scalars(
                select(AttemptRow)
                .where(
                    AttemptRow.environment == environment,
                    AttemptRow.result.in_([Result.APPLIED.value, Result.IN_SYNC.value]),
                )
                .order_by(AttemptRow.id.desc())
                .limit(1)
            ).first()
            return _attempt(row) if row else None

    def live_at(self, environment: str, at: datetime) -> Attempt | None:
        """The commit live at time `at`: the newest successful attempt finished by then."""
        with Session(self.engine) as session:
            row = session.scalars(
                select(AttemptRow)
                .where(
                    AttemptRow.environment == environment,
                    AttemptRow.result.in_([Result.APPLIED.value, Result.IN_SYNC.value]),
                    AttemptRow.finished_at <= at,
                )
                .order_by(AttemptRow.finished_at.desc())
                .limit(1)
            ).first()
            return _attempt(row) if row else None

    def record_evaluations(self, evaluations: list[Evaluation]) -> None:
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

    def evaluations(
        self,
        policy: str,
        limit: int = 50,
        environment: str | None = None,
        check: str | None = None,
        route: str | None = None,
    ) -> list[Evaluation]:
        """Results of a policy, newest first, optionally of one check of one route."""
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

    def changes_to(self, environment: str, kind: str, name: str) -> list[Attempt]:
        """Applied attempts that changed resource kind/name, newest first."""
        return [
            a
            for a in self.attempts(environment, limit=10_000)
            if a.result is Result.APPLIED
            and any(c.get("kind") == kind and c.get("name") == name for c in a.changes)
        ]

    # --- rollbacks -------------------------------------------------------------------------------

    def record_rollback(
        self,
        environment: str,
        policy: str,
        at: datetime,
        status: str,
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
                status=status,
                detail=detail,
                branch=branch,
                number=number,
                url=url,
                passing_noted=False,
            )
        )

    def rollbacks(
        self,
        environment: str | None = None,
        policy: str | None = None,
        statuses: tuple[str, ...] = (),
        limit: int = 50,
    ) -> list[Rollback]:
        """Rollback decisions, newest first."""
        query = select(RollbackRow)
        if environment is not None:
            query = query.where(RollbackRow.environment == environment)
        if policy is not None:
            query = query.where(RollbackRow.policy == policy)
        if statuses:
            query = query.where(RollbackRow.status.in_(statuses))
        with Session(self.engine) as session:
            rows = session.scalars(query.order_by(RollbackRow.id.desc()).limit(limit))
            return [
                Rollback(
                    id=r.id,
                    environment=r.environment,
                    policy=r.policy,
                    commit_sha=r.commit_sha,
                    at=_utc(r.at) or r.at,
                    status=r.status,
                    detail=r.detail,
                    branch=r.branch,
                    number=r.number,
                    url=r.url,
                    passing_noted=r.passing_noted,
                )
                for r in rows
            ]

    def update_rollback(
        self, rollback_id: int, status: str | None = None, passing_noted: bool | None = None
    ) -> None:
        with self._sessions.begin() as session:
            row = session.get(RollbackRow, rollback_id)
            assert row is not None
            if status is not None:
                row.status = status
            if passing_noted is not None:
                row.passing_noted = passing_noted
