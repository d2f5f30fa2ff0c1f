"""The Notifier's decisions with an injected clock and channel: the same event once per window,
at most maxPerMinute a minute, failures recorded and retried by the next notify, nothing raised;
and the events the reconciler and the policy runner build (dedupe keys, budget thresholds)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.engine.notifications import (
    Event,
    Notifier,
    budget_threshold_events,
    drift_event,
    policy_failed_event,
    sync_failed_event,
)
from controlplane.errors import HistoryError, NotificationError
from controlplane.history import AppliedChange, NotificationStatus, SqlHistory
from controlplane.plan import ChangeKind
from controlplane.policy import DIALECTS, Outcome
from controlplane.policy.guards import evaluate_budget
from controlplane.policy.source import MinuteValues
from controlplane.spec import CostPolicy, Environment
from controlplane.spec.notification import NotificationConfig, NotificationEvent

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Channel:
    """A labelled stand-in for a channel adapter: records what it is sent, fails when told."""

    def __init__(self, name: str = "ops") -> None:
        self.name = name
        self.sent: list[Event] = []
        self.failing = False
        self.gate: threading.Event | None = None

    def send(self, event: Event) -> int:
        if self.gate is not None:
            self.gate.wait(10)
        if self.failing:
            raise NotificationError("slack channel 'ops': HTTP 500: no_service", tries=3)
        self.sent.append(event)
        return 1


def environment(**channel: object) -> Environment:
    return Environment.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": "prod"},
            "spec": {
                "targets": [{"type": "gateway", "url": "http://127.0.0.1:4000"}],
                "notifications": [{"type": "slack", "name": "ops", "url": "env:X", **channel}],
            },
        }
    )


def drift(key: str = "drift/prod/abc/1", at: datetime = T0) -> Event:
    return Event(NotificationEvent.DRIFT, "prod", "drift", "Route/chat", key, at)


@pytest.fixture
def history(tmp_path: Path) -> SqlHistory:
    return SqlHistory(f"sqlite:///{tmp_path / 'h.db'}")


def notifier(history: SqlHistory, clock: Clock, channel: Channel, **options: int) -> Notifier:
    factory: Callable[[NotificationConfig], Channel] = lambda _: channel  # noqa: E731
    return Notifier(history, clock, factory, **options)


def statuses(history: SqlHistory) -> list[NotificationStatus]:
    return [n.status for n in reversed(history.notifications("prod", limit=100))]


def test_the_same_event_goes_once_per_min_interval(history: SqlHistory) -> None:
    clock, channel = Clock(), Channel()
    sender = notifier(history, clock, channel)
    env = environment(minInterval="10m")
    for _ in range(3):
        sender.notify(env, drift())
        clock.advance(minutes=1)
    sender.notify(env, drift("drift/prod/abc/2"))  # other drift: news
    assert sender.flush(5)
    assert [e.dedupe_key for e in channel.sent] == ["drift/prod/abc/1", "drift/prod/abc/2"]
    assert statuses(history) == [
        NotificationStatus.SENT,
        NotificationStatus.DEDUPLICATED,
        NotificationStatus.DEDUPLICATED,
        NotificationStatus.SENT,
    ]
    clock.advance(minutes=8)  # 11 minutes after the first: a reminder
    sender.notify(env, drift())
    assert sender.flush(5)
    assert len(channel.sent) == 3
    [latest, *_] = history.notifications("prod")
    assert (latest.channel, latest.channel_type, latest.event) == ("ops", "slack", "drift")
    assert (latest.attempts, latest.finished_at) == (1, clock.now)


def test_an_events_own_window_outlasts_the_channels_interval(history: SqlHistory) -> None:
    clock, channel = Clock(), Channel()
    sender = notifier(history, clock, channel)
    budget = Event(
        NotificationEvent.BUDGET_THRESHOLD, "prod", "80%", "", "b/1", T0, window=timedelta(days=30)
    )
    sender.notify(environment(), budget)
    clock.advance(days=10)
    sender.notify(environment(), budget)
    assert sender.flush(5)
    assert len(channel.sent) == 1


def test_over_max_per_minute_deliveries_are_rate_limited(history: SqlHistory) -> None:
    clock, channel = Clock(), Channel()
    sender = notifier(history, clock, channel)
    env = environment(maxPerMinute=2)
    for i in range(3):
        sender.notify(env, drift(f"k{i}"))
        clock.advance(seconds=10)
    assert sender.flush(5)
    assert statuses(history)[-1] is NotificationStatus.RATE_LIMITED
    assert [e.dedupe_key for e in channel.sent] == ["k0", "k1"]
    clock.advance(seconds=31)  # the first left the last minute
    sender.notify(env, drift("k2"))  # a rate-limited event is not deduplicated: it goes now
    assert sender.flush(5)
    assert [e.dedupe_key for e in channel.sent] == ["k0", "k1", "k2"]


def test_a_failed_delivery_is_recorded_and_the_next_notify_tries_again(
    history: SqlHistory, caplog: pytest.LogCaptureFixture
) -> None:
    clock, channel = Clock(), Channel()
    channel.failing = True
    sender = notifier(history, clock, channel)
    sender.notify(environment(), drift())  # returns: the caller never sees the failure
    assert sender.flush(5)
    [failed] = history.notifications("prod")
    assert (failed.status, failed.attempts) == (NotificationStatus.FAILED, 3)
    assert failed.error == "slack channel 'ops': HTTP 500: no_service"
    assert "notification not delivered" in caplog.text
    channel.failing = False
    clock.advance(minutes=1)
    sender.notify(environment(), drift())
    assert sender.flush(5)
    assert len(channel.sent) == 1
    assert statuses(history) == [NotificationStatus.FAILED, NotificationStatus.SENT]


def test_channels_get_only_the_events_they_want(history: SqlHistory) -> None:
    clock, channel = Clock(), Channel()
    sender = notifier(history, clock, channel)
    sender.notify(environment(events=["sync-failed"]), drift())
    assert sender.flush(5)
    assert channel.sent == []
    assert history.notifications("prod") == []


def test_nothing_raises_to_the_caller_when_the_history_fails(
    history: SqlHistory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> int:
        raise HistoryError("history database: OperationalError: disk I/O error")

    monkeypatch.setattr(history, "record_notification", broken)
    channel = Channel()
    sender = notifier(history, Clock(), channel)
    with caplog.at_level(logging.ERROR):
        sender.notify(environment(), drift())
    assert sender.flush(5)
    assert channel.sent == []
    assert "notification not sent: history database: OperationalError" in caplog.text


def test_a_full_queue_records_failures_instead_of_waiting(history: SqlHistory) -> None:
    clock, channel = Clock(), Channel()
    channel.gate = threading.Event()  # the receiver hangs until released
    sender = notifier(history, clock, channel, queue_size=1)
    env = environment()
    sender.notify(env, drift("k0"))
    assert not sender.flush(0.2)  # k0 is being sent
    sender.notify(env, drift("k1"))  # waits in the queue
    sender.notify(env, drift("k2"))  # no room
    [full] = history.notifications("prod", limit=1)
    assert (full.dedupe_key, full.status) == ("k2", NotificationStatus.FAILED)
    assert full.error == "not sent: 1 notifications are already waiting"
    channel.gate.set()
    assert sender.flush(5)
    assert [e.dedupe_key for e in channel.sent] == ["k0", "k1"]
    sender.close()
    sender.notify(env, drift("k3"))
    [closed] = history.notifications("prod", limit=1)
    assert (closed.status, closed.error) == (
        NotificationStatus.FAILED,
        "not sent: the notifier is stopping",
    )


def test_deliveries_a_crash_left_pending_are_closed_at_start(history: SqlHistory) -> None:
    history.record_notification(
        "prod", "ops", "slack", NotificationEvent.DRIFT, "k", "t", NotificationStatus.PENDING, T0
    )
    notifier(history, Clock(), Channel())
    [closed] = history.notifications("prod")
    assert closed.status is NotificationStatus.FAILED
    assert closed.error.startswith("interrupted")


def test_reconciler_events_are_keyed_by_environment_commit_and_drift() -> None:
    route = AppliedChange(ChangeKind.UPDATE, "Route", "chat", "gateway")
    model = AppliedChange(ChangeKind.CREATE, "Model", "m", "gateway")
    sha = "0123456789abcdef0123456789abcdef01234567"
    one = drift_event("prod", sha, [route, model], T0)
    assert one.dedupe_key == drift_event("prod", sha, [model, route], T0).dedupe_key
    assert one.dedupe_key != drift_event("prod", sha, [route], T0).dedupe_key
    assert one.dedupe_key != drift_event("prod", "f" * 40, [route, model], T0).dedupe_key
    assert one.text == (
        "Changed outside git (self-heal is off); a sync would create Model/m on gateway, "
        "update Route/chat on gateway."
    )
    failed = sync_failed_event("prod", sha, "gateway 'gateway': HTTP 409", T0)
    assert (failed.kind, failed.dedupe_key) == (
        NotificationEvent.SYNC_FAILED,
        f"sync-failed/prod/{sha}",
    )
    assert failed.title == "commit 0123456789ab could not be applied"


class Spend:
    """A labelled stand-in metric source: the route's spend so far."""

    def __init__(self, usd: float | None) -> None:
        self.usd = usd

    def scalar(self, query: str, at: datetime) -> float | None:
        return self.usd

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        raise AssertionError("a budget asks for one value")

    def expect(self, routes: Collection[str]) -> None:
        raise AssertionError("a budget asks for one value")

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        raise AssertionError("a budget asks for one value")


def cost_policy(forecast: bool) -> CostPolicy:
    return CostPolicy.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "CostPolicy",
            "metadata": {"name": "cost"},
            "spec": {
                "budgets": [
                    {
                        "name": "chat-monthly",
                        "scope": {"type": "route", "name": "chat"},
                        "period": "month",
                        "limitUsd": 1000,
                        "forecast": forecast,
                        "thresholds": [
                            {"percent": 50, "action": "notify"},
                            {"percent": 80, "action": "notify"},
                            {"percent": 100, "action": "rollback"},
                        ],
                    }
                ]
            },
        }
    )


def budget(policy: CostPolicy, usd: float | None, at: datetime = T0) -> list[Event]:
    found = evaluate_budget(
        policy,
        policy.spec.budgets[0],
        DIALECTS["gateway"],
        Spend(usd),
        "prod",
        at,
    )
    return budget_threshold_events(policy, found)


def test_budget_notify_thresholds_become_events_once_per_period() -> None:
    assert budget(cost_policy(forecast=False), 400) == []  # under 50%
    [spend] = budget(cost_policy(forecast=False), 850)  # past 80% (and 50%): the highest
    assert spend.kind is NotificationEvent.BUDGET_THRESHOLD
    assert spend.title == "budget chat-monthly: spend past 80% of $1,000 a month"
    assert spend.dedupe_key == "budget-threshold/prod/cost/chat-monthly/2026-11-01/spend/80"
    assert spend.window == timedelta(days=30)
    # Nine days in, $400 spent runs at ~$1,333 by month-end: the forecast is past 80% too.
    found = budget(cost_policy(forecast=True), 400)
    assert [e.dedupe_key.split("/")[-2:] for e in found] == [["forecast", "80"]]
    assert budget(cost_policy(forecast=True), None) == []  # no data: inconclusive, no event
    next_month = budget(cost_policy(forecast=False), 850, T0 + timedelta(days=30))
    assert next_month[0].dedupe_key != spend.dedupe_key


def test_a_failing_check_names_policy_check_and_route() -> None:
    policy = cost_policy(forecast=False)
    found = evaluate_budget(
        policy,
        policy.spec.budgets[0],
        DIALECTS["gateway"],
        Spend(1200),
        "prod",
        T0,
    )
    assert found.outcome is Outcome.FAIL
    event = policy_failed_event(found, url="https://forge.example/pulls/3")
    assert event.title == "CostPolicy cost is failing: budget/chat-monthly on route chat"
    assert event.dedupe_key == "policy-failed/prod/cost/budget/chat-monthly/chat"
    assert (event.text, event.url) == (found.reason, "https://forge.example/pulls/3")
