"""Notifications: send an event to every channel of an environment that wants it, at most once
per dedupe window, at most `maxPerMinute` a minute, and record every delivery in the history.

`Notifier.notify(environment, event)` decides at once, under one lock, for each channel that
wants the event's kind (the same key still PENDING or SENT within the channel's `minInterval`,
or the event's own `window` when longer, is DEDUPLICATED; a channel that already had
`maxPerMinute` sends in the last minute is RATE_LIMITED; anything else is PENDING), records that
decision, and queues what is to be sent. Deciding and recording as one step is what keeps two
callers from sending the same event twice. A FAILED delivery does not suppress the next one of
the same event: the next notify tries again (within the rate limit).

**Sending is off the caller's path**, on one background thread fed by a bounded queue. A
receiver that hangs costs its timeout on each of its tries (5 s × 3, plus backoff): on the
reconcile pass or a policy tick, that would delay applies and evaluations for every environment
sharing the pool. The queue is bounded, so a dead receiver cannot grow memory: past it, a
delivery is recorded FAILED at once. The thread is started on the first delivery, so a process
without channels runs none. Nothing here raises to the caller: failures are logged (without
credentials) and recorded.

One Notifier belongs to the process that owns the history (`serve`): at start it closes, as
FAILED, deliveries a crash left PENDING, as the reconciler does with its attempts.

Credentials are resolved in the worker, per delivery, from the references in the config (so a
commit that changes them takes effect at once) and only where the operator allows: a Slack URL
is itself the credential, so it is sent only to a host its reference is bound to
(CONTROLPLANE_CREDENTIAL_HOSTS); a webhook's signing key likewise, to the webhook's host.

Event constructors for each kind live here too, so every caller names occurrences the same way
(the dedupe key): `sync_failed_event`, `drift_event` (the reconciler), `policy_failed_event`,
`rollback_pr_event`, `promotion_pr_event`, `budget_threshold_events` (the policy runner).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import assert_never

from controlplane.credentials import redact, resolve_config_secret, resolve_received_secret
from controlplane.errors import (
    ConfigError,
    HistoryError,
    NotificationError,
    SecretUnavailable,
    clip,
)
from controlplane.history import AppliedChange, History, NotificationStatus
from controlplane.logs import log_failure
from controlplane.notify import Channel, Event, SlackChannel, WebhookChannel
from controlplane.policy import Evaluation, Outcome
from controlplane.policy.guards import period_bounds
from controlplane.spec import Environment
from controlplane.spec.base import HTTP_URL_PATTERN
from controlplane.spec.notification import (
    NotificationConfig,
    NotificationEvent,
    SlackNotificationConfig,
    WebhookNotificationConfig,
)
from controlplane.spec.policy import CostAction, CostPolicy

__all__ = [
    "Event",
    "Notifier",
    "budget_threshold_events",
    "channel_for",
    "drift_event",
    "policy_failed_event",
    "promotion_pr_event",
    "rollback_pr_event",
    "sync_failed_event",
]

log = logging.getLogger("controlplane.notify")
RATE_WINDOW = timedelta(minutes=1)
QUEUE_SIZE = 256
KEY_LIMIT = 255  # the history's column; longer keys are replaced by their digest
INTERRUPTED = "interrupted: the service stopped before this was sent"
# What makes a delivery count: towards dedupe (it went, or is going), towards the rate limit
# (the receiver was, or is being, called).
_DEDUPES = (NotificationStatus.PENDING, NotificationStatus.SENT)
_COUNTS = (NotificationStatus.PENDING, NotificationStatus.SENT, NotificationStatus.FAILED)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- channels --------------------------------------------------------------------------------


def channel_for(config: NotificationConfig) -> Channel:
    """The adapter for one configured channel, its credential resolved (SecretUnavailable when
    it cannot be, or may not go where the config sends it)."""
    match config:
        case SlackNotificationConfig():
            return SlackChannel(config.name, _slack_url(config.url))
        case WebhookNotificationConfig():
            key = resolve_config_secret(config.secret, config.url)
            return WebhookChannel(config.name, config.url, key)
        case _:
            assert_never(config)


def _slack_url(reference: str) -> str:
    url = resolve_received_secret(reference)  # read where files may be; registered for redaction
    if not re.fullmatch(HTTP_URL_PATTERN, url):
        raise SecretUnavailable(f"{reference} does not hold an http:// or https:// URL")
    return resolve_config_secret(reference, url)  # and sent only where the operator bound it


# --- the notifier ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Delivery:
    id: int
    environment: str
    config: NotificationConfig
    event: Event


class Notifier:
    """Sends events to an environment's channels: deduplicated, rate-limited, recorded."""

    def __init__(
        self,
        history: History,
        clock: Callable[[], datetime] = _utc_now,
        channels: Callable[[NotificationConfig], Channel] = channel_for,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.history = history
        self._clock = clock
        self._channels = channels
        self._queue: queue.Queue[_Delivery | None] = queue.Queue(maxsize=queue_size)
        self._admission = threading.Lock()  # decide and record as one step
        self._state = threading.Condition()  # outstanding, worker, closed
        self._outstanding = 0
        self._worker: threading.Thread | None = None
        self._closed = False
        try:
            history.close_pending_notifications(clock(), INTERRUPTED)
        except HistoryError as exc:
            log_failure(log, "cannot close interrupted notifications", exc)

    def notify(self, environment: Environment, event: Event) -> None:
        """Send EVENT to each channel of ENVIRONMENT that wants its kind, unless deduplicated or
        rate-limited; every decision is recorded. Never raises, never waits for a receiver."""
        for config in environment.spec.notifications:
            if not config.wants(event.kind):
                continue
            try:
                self._admit(environment.name, config, event)
            except Exception as exc:  # the caller's work must go on whatever happens here
                log_failure(
                    log,
                    "notification not sent",
                    exc,
                    environment=environment.name,
                    channel=config.name,
                    event=event.kind.value,
                )

    def flush(self, timeout: float) -> bool:
        """Wait until every queued delivery is finished; False when TIMEOUT passed first."""
        with self._state:
            return self._state.wait_for(lambda: self._outstanding == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking deliveries and let the worker finish what is queued, for at most TIMEOUT
        seconds; what is left stays PENDING and is closed as FAILED at the next start."""
        with self._state:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
        if worker is not None:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return
            worker.join(timeout)

    # --- deciding ------------------------------------------------------------------------------

    def _admit(self, environment: str, config: NotificationConfig, event: Event) -> None:
        key = _bounded_key(event.dedupe_key)
        title = clip(redact(event.title), 500)
        window = max(config.min_interval, event.window or timedelta(0))
        with self._admission:
            now = self._clock()
            status = self._decide(environment, config, key, now, window)
            row = self.history.record_notification(
                environment, config.name, config.type, event.kind, key, title, status, now
            )
        extra = {
            "environment": environment,
            "channel": config.name,
            "event": event.kind.value,
            "status": status.value,
        }
        if status is NotificationStatus.PENDING:
            self._enqueue(_Delivery(row, environment, config, event))
        else:
            log.info("notification not sent: %s", status.value, extra=extra)

    def _decide(
        self,
        environment: str,
        config: NotificationConfig,
        key: str,
        now: datetime,
        window: timedelta,
    ) -> NotificationStatus:
        if window > timedelta(0) and self.history.notifications(
            environment, config.name, key, _DEDUPES, since=now - window, limit=1
        ):
            return NotificationStatus.DEDUPLICATED
        recent = self.history.notifications(
            environment,
            config.name,
            statuses=_COUNTS,
            since=now - RATE_WINDOW,
            limit=config.max_per_minute,
        )
        if len(recent) >= config.max_per_minute:
            return NotificationStatus.RATE_LIMITED
        return NotificationStatus.PENDING

    # --- sending -------------------------------------------------------------------------------

    def _enqueue(self, delivery: _Delivery) -> None:
        with self._state:
            refused = "not sent: the notifier is stopping" if self._closed else ""
            if not refused:
                self._outstanding += 1
                if self._worker is None:
                    self._worker = threading.Thread(target=self._work, name="notify", daemon=True)
                    self._worker.start()
        if not refused:
            try:
                self._queue.put_nowait(delivery)
                return
            except queue.Full:
                refused = f"not sent: {self._queue.maxsize} notifications are already waiting"
                self._done()
        self._finish(delivery, NotificationStatus.FAILED, refused, 0)

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._send(delivery)
            except Exception as exc:  # the worker outlives any one delivery
                log_failure(log, "notification failed", exc, environment=delivery.environment)
            finally:
                self._done()

    def _done(self) -> None:
        with self._state:
            self._outstanding -= 1
            self._state.notify_all()

    def _send(self, delivery: _Delivery) -> None:
        extra = {
            "environment": delivery.environment,
            "channel": delivery.config.name,
            "event": delivery.event.kind.value,
        }
        try:
            tries = self._channels(delivery.config).send(delivery.event)
        except (NotificationError, ConfigError) as exc:
            error = redact(str(exc))
            tries = exc.tries if isinstance(exc, NotificationError) else 0
            log.warning("notification not delivered: %s", error, extra=extra)
            self._finish(delivery, NotificationStatus.FAILED, error, tries)
        except Exception as exc:
            log_failure(log, "notification failed", exc, **extra)
            self._finish(delivery, NotificationStatus.FAILED, f"{type(exc).__name__} (a bug)", 0)
        else:
            log.info("notification sent", extra=extra)
            self._finish(delivery, NotificationStatus.SENT, "", tries)

    def _finish(
        self, delivery: _Delivery, status: NotificationStatus, error: str, tries: int
    ) -> None:
        try:
            self.history.finish_notification(delivery.id, status, self._clock(), error, tries)
        except HistoryError as exc:
            log_failure(log, "cannot record a notification", exc, environment=delivery.environment)


def _bounded_key(key: str) -> str:
    if len(key) <= KEY_LIMIT:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


# --- events ------------------------------------------------------------------------------------


def sync_failed_event(environment: str, commit: str, error: str, at: datetime) -> Event:
    """A commit could not be applied (or its targets read): once per environment and commit."""
    return Event(
        NotificationEvent.SYNC_FAILED,
        environment,
        f"commit {commit[:12]} could not be applied",
        error,
        f"sync-failed/{environment}/{commit}",
        at,
    )


def drift_event(
    environment: str, commit: str, changes: Sequence[AppliedChange], at: datetime
) -> Event:
    """Live differs from an applied commit: once per environment, commit and drift (the same
    changes in any order are the same drift; different ones are news)."""
    lines = sorted({f"{c.action.value} {c.ref} on {c.target}" for c in changes})
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    shown = ", ".join(lines[:20]) + (f" and {len(lines) - 20} more" if len(lines) > 20 else "")
    return Event(
        NotificationEvent.DRIFT,
        environment,
        f"live differs from applied commit {commit[:12]}",
        f"Changed outside git (self-heal is off); a sync would {shown}.",
        f"drift/{environment}/{commit}/{digest}",
        at,
    )


def policy_failed_event(evaluation: Evaluation, url: str = "") -> Event:
    """A check of a policy counts as failing: once per check and route, per channel interval."""
    route = f" on route {evaluation.route}" if evaluation.route else ""
    return Event(
        NotificationEvent.POLICY_FAILED,
        evaluation.environment,
        f"{evaluation.kind} {evaluation.policy} is failing: {evaluation.check}{route}",
        evaluation.reason,
        f"policy-failed/{evaluation.environment}/{evaluation.policy}/{evaluation.check}/"
        f"{evaluation.route}",
        evaluation.at,
        url,
    )


def rollback_pr_event(
    environment: str, policy: str, commit: str, url: str, at: datetime, text: str = ""
) -> Event:
    """A rollback pull request was opened: once per environment, policy and blamed commit."""
    return Event(
        NotificationEvent.ROLLBACK_PR,
        environment,
        f"rollback pull request for {policy}: revert {commit[:12]}",
        text,
        f"rollback-pr/{environment}/{policy}/{commit}",
        at,
        url,
    )


def promotion_pr_event(
    environment: str, title: str, url: str, at: datetime, identity: str = "", text: str = ""
) -> Event:
    """A promotion pull request was opened: once per IDENTITY (default: its URL, else title)."""
    return Event(
        NotificationEvent.PROMOTION_PR,
        environment,
        title,
        text,
        f"promotion-pr/{environment}/{identity or url or title}",
        at,
        url,
    )


# The names evaluate_budget gives its evidence (controlplane.policy.guards).
SPEND_EVIDENCE = "spend so far (USD)"
FORECAST_EVIDENCE = "linear forecast for the period (USD)"


def budget_threshold_events(policy: CostPolicy, evaluation: Evaluation) -> list[Event]:
    """The `notify` thresholds a budget evaluation of POLICY shows crossed: the highest one for
    the spend, and for the forecast when the budget judges it. Each is sent once per budget
    period (its key holds the period's start and the percent; its window is the period)."""
    budget = next((b for b in policy.spec.budgets if evaluation.check == f"budget/{b.name}"), None)
    if budget is None or evaluation.outcome is Outcome.INCONCLUSIVE:
        return []
    values = {e.name: e.value for e in evaluation.evidence}
    judged = {"spend": values.get(SPEND_EVIDENCE)}
    if budget.forecast:
        judged["forecast"] = values.get(FORECAST_EVIDENCE)
    start, end = period_bounds(evaluation.at, budget.period)
    events = []
    for what, amount in judged.items():
        if amount is None:
            continue
        crossed = [
            t.percent
            for t in budget.thresholds
            if t.action is CostAction.NOTIFY and amount >= budget.limit_usd * t.percent / 100
        ]
        if not crossed:
            continue
        percent = max(crossed)
        scope = f"{budget.scope.type} {budget.scope.name}"
        events.append(
            Event(
                NotificationEvent.BUDGET_THRESHOLD,
                evaluation.environment,
                f"budget {budget.name}: {what} past {percent:g}% of "
                f"${budget.limit_usd:,.0f} a {budget.period}",
                f"{what.capitalize()} ${amount:,.2f} of the ${budget.limit_usd:,.0f} "
                f"{budget.period} budget for {scope} (CostPolicy {policy.name}).",
                f"budget-threshold/{evaluation.environment}/{policy.name}/{budget.name}/"
                f"{start:%Y-%m-%d}/{what}/{percent:g}",
                evaluation.at,
                window=end - start,
            )
        )
    return events
