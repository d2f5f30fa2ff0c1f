"""The history adapter: reconcile attempts, policy evaluations and rollback decisions, in SQL.

Readers and writers see it through two protocols (`interfaces`); records are typed values
(`records`); `SqlHistory` is the one implementation (SQLite by default, any SQLAlchemy URL)."""

from controlplane.history.interfaces import History, HistoryReader, HistoryWriter
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
from controlplane.history.sql import SqlHistory

__all__ = [
    "SUCCESSES",
    "AppliedChange",
    "Attempt",
    "AttemptResult",
    "History",
    "HistoryReader",
    "HistoryWriter",
    "Hold",
    "NotificationRecord",
    "NotificationStatus",
    "PromotionRecord",
    "RollbackRecord",
    "SqlHistory",
    "Trigger",
]
