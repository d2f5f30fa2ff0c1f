"""The SQL history (SQLite here; PostgreSQL takes the same URL form): typed records in and out,
the questions attribution and the API ask, and database failures as HistoryError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.errors import HistoryError
from controlplane.history import AppliedChange, AttemptResult, SqlHistory, Trigger
from controlplane.plan import ChangeKind
from controlplane.rollback.decision import Decision

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def route_change(name: str) -> list[AppliedChange]:
    return [AppliedChange(ChangeKind.UPDATE, "Route", name, "gateway")]


@pytest.fixture
def history(tmp_path: Path) -> SqlHistory:
    return SqlHistory(f"sqlite:///{tmp_path / 'h.db'}")


def record(
    history: SqlHistory, sha: str, minute: int, result: AttemptResult, changes: list[AppliedChange]
) -> None:
    at = T0 + timedelta(minutes=minute)
    attempt_id = history.start("prod", sha, "a <a@e>", f"commit {sha}", Trigger.WEBHOOK, at)
    history.finish(attempt_id, result, at + timedelta(seconds=5), "", changes)


def test_attempts_come_back_typed_newest_first(history: SqlHistory) -> None:
    record(history, "aaa", 0, AttemptResult.APPLIED, route_change("chat"))
    record(history, "bbb", 10, AttemptResult.APPLIED, route_change("search"))
    record(history, "ccc", 20, AttemptResult.INVALID, [])
    attempts = history.attempts("prod")
    assert [a.commit_sha for a in attempts] == ["ccc", "bbb", "aaa"]
    assert attempts[2].changes == tuple(route_change("chat"))
    assert attempts[2].changes[0].action is ChangeKind.UPDATE
    assert attempts[2].trigger is Trigger.WEBHOOK
    assert attempts[0].started_at.tzinfo is not None
    last_ok = history.last_success("prod")
    assert last_ok is not None
    assert last_ok.commit_sha == "bbb"  # the invalid commit never went live
    last = history.last("prod")
    assert last is not None
    assert last.result is AttemptResult.INVALID
    assert history.attempts("staging") == []


def test_interrupted_attempts_are_closed_as_failed(history: SqlHistory) -> None:
    history.start("prod", "aaa", "", "", Trigger.WEBHOOK, T0)
    assert history.close_running(T0 + timedelta(minutes=1), "interrupted") == 1
    last = history.last("prod")
    assert last is not None
    assert (last.result, last.error) == (AttemptResult.FAILED, "interrupted")


def test_rollback_decisions_filter_by_status_and_update(history: SqlHistory) -> None:
    opened = history.record_rollback("prod", "slo", T0, Decision.OPENED, "t", "aaa", "b", 7, "u")
    history.record_rollback("prod", "slo", T0, Decision.COOLDOWN, "later")
    assert [r.status for r in history.rollbacks("prod", "slo")] == [
        Decision.COOLDOWN,
        Decision.OPENED,
    ]
    [row] = history.rollbacks("prod", "slo", (Decision.OPENED,))
    assert (row.number, row.passing_noted, row.at) == (7, False, T0)
    history.update_rollback(opened, status=Decision.CLOSED, passing_noted=True)
    [row] = history.rollbacks("prod", "slo", (Decision.CLOSED,))
    assert row.passing_noted
    with pytest.raises(HistoryError, match="no rollback 999"):
        history.update_rollback(999, passing_noted=True)


def test_database_failures_are_history_errors(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="URL"):
        SqlHistory("nosuchdriver://x")
    with pytest.raises(HistoryError, match="unable to open database file"):
        SqlHistory(f"sqlite:///{tmp_path / 'missing' / 'folder' / 'h.db'}")


def test_a_canary_start_is_recorded_once_per_configuration(history: SqlHistory) -> None:
    first = history.canary_starts("prod", {"chat": "id-1", "search": "id-9"}, T0)
    assert first == {"chat": T0, "search": T0}
    later = T0 + timedelta(minutes=30)
    # An unrelated apply later: the same configurations keep their start.
    assert history.canary_starts("prod", {"chat": "id-1"}, later) == {"chat": T0}
    # A new step of the chat canary is a new configuration: its evidence starts now.
    assert history.canary_starts("prod", {"chat": "id-2", "search": "id-9"}, later) == {
        "chat": later,
        "search": T0,
    }
    assert history.canary_starts("staging", {"chat": "id-1"}, later) == {"chat": later}


def test_the_runners_questions_have_indexes_even_in_an_older_database(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    SqlHistory(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:  # as a database made before the indexes existed
        db.execute("DROP INDEX ix_evaluations_check")
        db.execute("DROP INDEX ix_attempts_environment_result_id")
    SqlHistory(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        plan = " ".join(
            str(row)
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM evaluations WHERE policy='p' AND "
                "environment='e' AND route='r' AND \"check\"='c' ORDER BY id DESC LIMIT 2"
            )
        )
    assert {"ix_evaluations_check", "ix_attempts_environment_result_id"} <= names
    assert "USING INDEX ix_evaluations_check" in plan
    assert "SCAN evaluations" not in plan
