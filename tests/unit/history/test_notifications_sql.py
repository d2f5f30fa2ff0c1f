"""Notification deliveries in the SQL history: recorded, finished, asked for by environment,
channel, key, status and time; and a database made before the table existed gets it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.errors import HistoryError
from controlplane.history import NotificationStatus, SqlHistory
from controlplane.spec.notification import NotificationEvent

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PENDING, SENT = NotificationStatus.PENDING, NotificationStatus.SENT


def record(
    history: SqlHistory,
    minute: int,
    status: NotificationStatus,
    key: str = "drift/prod/abc/1",
    channel: str = "ops",
    environment: str = "prod",
) -> int:
    return history.record_notification(
        environment,
        channel,
        "slack",
        NotificationEvent.DRIFT,
        key,
        "live differs",
        status,
        T0 + timedelta(minutes=minute),
    )


def test_deliveries_are_recorded_finished_and_found(tmp_path: Path) -> None:
    history = SqlHistory(f"sqlite:///{tmp_path / 'h.db'}")
    first = record(history, 0, PENDING)
    record(history, 1, NotificationStatus.DEDUPLICATED)
    record(history, 2, PENDING, key="other", channel="hook")
    record(history, 3, PENDING, environment="dev")
    history.finish_notification(first, SENT, T0 + timedelta(seconds=2), attempts=2)
    [sent] = history.notifications("prod", statuses=[SENT])
    assert (sent.status, sent.attempts, sent.finished_at) == (SENT, 2, T0 + timedelta(seconds=2))
    assert sent.event is NotificationEvent.DRIFT
    assert [n.channel for n in history.notifications("prod")] == ["hook", "ops", "ops"]
    assert len(history.notifications("prod", channel="ops", dedupe_key="drift/prod/abc/1")) == 2
    assert [n.status for n in history.notifications("prod", since=T0 + timedelta(minutes=1))] == [
        PENDING,
        NotificationStatus.DEDUPLICATED,
    ]
    assert len(history.notifications(statuses=[PENDING])) == 2  # every environment
    assert history.close_pending_notifications(T0, "interrupted") == 2
    assert history.notifications(statuses=[PENDING]) == []
    assert sent.to_dict()["finishedAt"] == "2026-11-01T12:00:02+00:00"
    with pytest.raises(HistoryError, match="no notification 99"):
        history.finish_notification(99, SENT, T0)


def test_a_database_from_before_notifications_gets_the_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqlHistory(f"sqlite:///{path}").engine.dispose()
    with sqlite3.connect(path) as db:  # as an older version left it
        db.execute("DROP TABLE notifications")
    history = SqlHistory(f"sqlite:///{path}")
    record(history, 0, SENT)
    assert len(history.notifications("prod")) == 1
    with sqlite3.connect(path) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"ix_notifications_dedupe", "ix_notifications_channel_at"} <= indexes
