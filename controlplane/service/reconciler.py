"""The reconciler: keep each environment's live targets equal to the branch head.

Level-triggered: every pass recomputes the whole difference from git and the live state, so a
webhook is only a hint to look now, and a pass can be killed at any line. Per environment, one
pass runs at a time; triggers that arrive meanwhile coalesce into one more pass.

What a pass records (in the history):
- an invalid commit: INVALID with the problems; nothing is applied, live stays at the last good
  commit;
- changes to make for a new commit (or a manual sync, or self-heal): RUNNING, then APPLIED or
  FAILED after retries with exponential backoff and jitter (each retry replans from what is live
  then: the executor refuses a plan whose live state has moved);
- changes found on a commit already applied, with self-heal off: DRIFT, nothing applied;
- a new commit that needs no change: IN_SYNC.
Repeated identical outcomes (the same drift or the same invalid commit on every poll) are
recorded once. A failed apply (or targets that cannot be read to plan) notifies `sync-failed`,
drift `drift`, through the shared `notifier` (deduplicated per environment, commit and drift).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from controlplane import engine
from controlplane.engine import TargetPlan
from controlplane.engine.notifications import Notifier, drift_event, sync_failed_event
from controlplane.errors import ConfigError, ControlPlaneError, InvalidConfig, TargetError
from controlplane.history import AppliedChange, Attempt, AttemptResult, History, Trigger
from controlplane.logs import log_failure
from controlplane.plan import Change, Plan
from controlplane.promotion.holds import held_state
from controlplane.repo import Commit, GitMirror
from controlplane.service.metrics import ControllerMetrics
from controlplane.spec import DesiredState
from controlplane.targets import Target

log = logging.getLogger("controlplane.reconciler")
# When passes coalesce, the strongest reason wins: a person asking beats a hint beats a poll.
STRENGTH = (Trigger.MANUAL, Trigger.HOLD, Trigger.WEBHOOK, Trigger.STARTUP, Trigger.POLL)


def utc_now() -> datetime:
    return datetime.now(UTC)


class SyncStatus(StrEnum):
    SYNCED = "synced"
    OUT_OF_SYNC = "out-of-sync"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"


@dataclass
class EnvironmentStatus:
    """What the API reports for one environment."""

    sync: SyncStatus = SyncStatus.UNKNOWN
    message: str = ""
    head_commit: str = ""
    checked_at: datetime | None = None
    # Readiness of what the targets run, where a target can tell (a cluster's Models).
    health: list[dict[str, Any]] = field(default_factory=list)
    # Live values held apart from git while a rollback pull request is decided.
    held: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync.value,
            "message": self.message,
            "headCommit": self.head_commit,
            "checkedAt": self.checked_at.isoformat() if self.checked_at else None,
            "health": self.health,
            "held": self.held,
        }


@dataclass
class _Slot:
    running: bool = False
    pending: set[Trigger] = field(default_factory=set)


def _applied(target: Target, changes: Sequence[Change]) -> list[AppliedChange]:
    return [AppliedChange(c.action, c.kind, c.name, target.name, c.sources) for c in changes]


class Reconciler:
    def __init__(
        self,
        mirror: GitMirror,
        history: History,
        metrics: ControllerMetrics,
        environments: list[str],
        attempts: int = 3,
        retry_base: float = 0.5,
        retry_max: float = 10.0,
        targets: Callable[[DesiredState], list[Target]] | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        on_synced: Callable[[str], None] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.mirror = mirror
        self.history = history
        # Shared with the policy runner: one dedupe, one rate limit and one queue per process.
        self.notifier = notifier or Notifier(history, clock)
        self.metrics = metrics
        self.configured_environments = environments
        self._attempts = attempts
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._targets = targets or engine.mirror_targets(mirror)
        self._clock = clock
        self._sleep = sleep
        self.on_synced = on_synced  # e.g. the policy jobs follow a newly live commit at once
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reconcile")
        self.status: dict[str, EnvironmentStatus] = {}
        self.known_environments: list[str] = list(environments)
        self._mark_interrupted()

    # --- triggers ----------------------------------------------------------------------------

    def trigger(self, environment: str, reason: Trigger) -> None:
        """Ask for a pass. If one is running, one more pass follows it (bursts coalesce)."""
        with self._lock:
            slot = self._slots.setdefault(environment, _Slot())
            if slot.running:
                slot.pending.add(reason)
                return
            slot.running = True
        self._pool.submit(self._run, environment, reason)

    def trigger_all(self, reason: Trigger) -> None:
        for environment in self.environments(refresh=True):
            self.trigger(environment, reason)

    def environments(self, refresh: bool = False) -> list[str]:
        """The configured environments, or all those at the branch head (cached between
        triggers, so reading the API does not fetch)."""
        if self.configured_environments:
            return list(self.configured_environments)
        if self.known_environments and not refresh:
            return self.known_environments
        try:
            commit = self.mirror.fetch()
            self.known_environments = list(engine.load(self.mirror.path, commit.sha).environments)
        except ControlPlaneError as exc:
            log.error("cannot list environments: %s", exc)
        return self.known_environments

    def busy(self, environment: str) -> bool:
        with self._lock:
            slot = self._slots.get(environment)
            return bool(slot and (slot.running or slot.pending))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.notifier.close()

    def _run(self, environment: str, reason: Trigger) -> None:
        while True:
            try:
                self.reconcile(environment, reason)
            except Exception as exc:  # a bug must not stop this environment's reconciles for good
                log_failure(log, "reconcile failed", exc, environment=environment)
            with self._lock:
                slot = self._slots[environment]
                if not slot.pending:
                    slot.running = False
                    return
                reason = min(slot.pending, key=STRENGTH.index)
                slot.pending.clear()

    # --- one pass ----------------------------------------------------------------------------

    def reconcile(self, environment: str, reason: Trigger) -> None:
        started = time.perf_counter()
        try:
            self._reconcile(environment, reason)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.reconcile_duration.labels(environment).observe(elapsed)

    def _reconcile(self, environment: str, reason: Trigger) -> None:
        status = self.status.setdefault(environment, EnvironmentStatus())
        status.checked_at = self._clock()
        try:
            commit = self.mirror.fetch()
        except ControlPlaneError as exc:
            self._degraded(status, str(exc))
            return
        status.head_commit = commit.sha
        extra = {"environment": environment, "commit": commit.sha[:12]}
        try:
            desired = self._held(
                engine.desired_state(self.mirror.path, environment, commit.sha), status
            )
        except InvalidConfig as exc:
            self._invalid(environment, commit, exc.report.strip(), status)
            return
        except ConfigError as exc:
            self._invalid(environment, commit, str(exc), status)
            return
        except ControlPlaneError as exc:
            self._degraded(status, str(exc))
            log.error("cannot read the commit: %s", exc, extra=extra)
            return
        try:
            targets = self._targets(desired)
            plans = engine.plan_targets(desired, targets)
            status.health = engine.health_of(desired, targets)
        except ControlPlaneError as exc:
            self._degraded(status, str(exc))
            log.error("cannot plan: %s", exc, extra=extra)
            self.notifier.notify(
                desired.environment,
                sync_failed_event(environment, commit.sha, f"cannot plan: {exc}", self._clock()),
            )
            return
        last_ok = self.history.last_success(environment)
        if all(p.plan.empty for p in plans):
            if last_ok is None or last_ok.commit_sha != commit.sha:
                self._record(environment, commit, reason, AttemptResult.IN_SYNC)
            self._synced(environment, status, commit.sha)
            return
        applied_already = last_ok is not None and last_ok.commit_sha == commit.sha
        manual = reason in (Trigger.MANUAL, Trigger.HOLD)  # a hold placed or released applies
        if applied_already and not manual and not desired.environment.spec.self_heal:
            self._drift(environment, commit, reason, plans, status, desired)
            return
        why = Trigger.SELF_HEAL if applied_already and not manual else reason
        self._apply(environment, commit, why, desired, plans, status)

    def _apply(
        self,
        environment: str,
        commit: Commit,
        reason: Trigger,
        desired: DesiredState,
        plans: list[TargetPlan],
        status: EnvironmentStatus,
    ) -> None:
        extra = {"environment": environment, "commit": commit.sha[:12]}
        attempt = self.history.start(
            environment, commit.sha, commit.author, commit.message, reason, self._clock()
        )
        applied: list[AppliedChange] = []
        error = ""
        for planned in plans:
            target, plan = planned.target, planned.plan
            for try_number in range(1, self._attempts + 1):
                error = self._apply_once(plan, target, applied, extra)
                if not error:
                    break
                log.warning(
                    "apply failed (try %d of %d): %s",
                    try_number,
                    self._attempts,
                    error,
                    extra=extra,
                )
                if try_number == self._attempts:
                    break
                self._backoff(try_number)
                try:  # level-triggered: replan from what is live now
                    plan = engine.plan_target(desired, target)
                except TargetError as exc:
                    error = str(exc)
            if error:
                break
        result = AttemptResult.FAILED if error else AttemptResult.APPLIED
        self.history.finish(attempt, result, self._clock(), error, applied)
        self.metrics.applies.labels(environment, result.value).inc()
        if error:
            self._degraded(status, f"apply of {commit.sha[:12]} failed: {error}")
            self.notifier.notify(
                desired.environment,
                sync_failed_event(environment, commit.sha, error, self._clock()),
            )
        else:
            self._synced(environment, status, commit.sha)
            log.info("environment synced (%s)", reason.value, extra=extra)

    @staticmethod
    def _apply_once(
        plan: Plan, target: Target, applied: list[AppliedChange], extra: dict[str, str]
    ) -> str:
        """Apply `plan` once, adding what landed to `applied`; the error, or "" on success."""
        try:
            result = engine.apply_plan(plan, target)
        except TargetError as exc:
            return str(exc)
        for change in _applied(target, result.applied):
            applied.append(change)
            log.info(
                "applied %s %s",
                change.action.value,
                change.ref,
                extra={**extra, "change": change.ref},
            )
        return result.error

    def _backoff(self, try_number: int) -> None:
        delay = min(self._retry_max, self._retry_base * 2 ** (try_number - 1))
        self._sleep(delay / 2 + random.uniform(0, delay / 2))  # "equal jitter"

    # --- outcomes ----------------------------------------------------------------------------

    def _record(
        self,
        environment: str,
        commit: Commit,
        reason: Trigger,
        result: AttemptResult,
        error: str = "",
        changes: Sequence[AppliedChange] = (),
    ) -> None:
        now = self._clock()
        attempt = self.history.start(
            environment, commit.sha, commit.author, commit.message, reason, now
        )
        self.history.finish(attempt, result, now, error, changes)
        self.metrics.applies.labels(environment, result.value).inc()

    def _repeats(self, environment: str, sha: str, result: AttemptResult) -> bool:
        last = self.history.last(environment)
        return last is not None and last.commit_sha == sha and last.result is result

    def _invalid(
        self, environment: str, commit: Commit, problems: str, status: EnvironmentStatus
    ) -> None:
        live = self.history.last_success(environment)
        if not self._repeats(environment, commit.sha, AttemptResult.INVALID):
            self._record(environment, commit, Trigger.VALIDATE, AttemptResult.INVALID, problems)
            log.error(
                "commit is invalid; nothing applied",
                extra={"environment": environment, "commit": commit.sha[:12], "error": problems},
            )
            self._notify_invalid(environment, commit, problems, live)
        status.sync = SyncStatus.DEGRADED
        status.message = (
            f"commit {commit.sha[:12]} is invalid and was not applied; live stays at "
            f"{live.commit_sha[:12] if live else 'nothing applied yet'}:\n{problems}"
        )

    def _notify_invalid(
        self, environment: str, commit: Commit, problems: str, live: Attempt | None
    ) -> None:
        """An invalid commit is a failed sync: told once, to the channels of the commit that is
        live (the invalid one's own settings cannot be trusted)."""
        if live is None:
            return
        try:
            channels = engine.desired_state(self.mirror.path, environment, live.commit_sha)
        except ControlPlaneError:
            return
        self.notifier.notify(
            channels.environment,
            sync_failed_event(environment, commit.sha, f"invalid:\n{problems}", self._clock()),
        )

    def _drift(
        self,
        environment: str,
        commit: Commit,
        reason: Trigger,
        plans: list[TargetPlan],
        status: EnvironmentStatus,
        desired: DesiredState,
    ) -> None:
        changes = [c for p in plans for c in _applied(p.target, p.plan.changes)]
        self.metrics.drift.labels(environment).inc()
        # Every pass: the notifier sends each drift (commit and changes) once per interval.
        self.notifier.notify(
            desired.environment, drift_event(environment, commit.sha, changes, self._clock())
        )
        if not self._repeats(environment, commit.sha, AttemptResult.DRIFT):
            self._record(environment, commit, reason, AttemptResult.DRIFT, "", changes)
            log.warning(
                "drift detected; self-heal is off",
                extra={"environment": environment, "commit": commit.sha[:12]},
            )
        status.sync = SyncStatus.OUT_OF_SYNC
        status.message = "drift: live differs from the applied commit in " + ", ".join(
            c.ref for c in changes
        )

    def _synced(self, environment: str, status: EnvironmentStatus, sha: str) -> None:
        status.sync = SyncStatus.SYNCED
        status.message = ""
        self.metrics.last_success.labels(environment).set(self._clock().timestamp())
        self.metrics.set_applied_commit(environment, sha)
        if self.on_synced is not None:
            self.on_synced(environment)

    @staticmethod
    def _degraded(status: EnvironmentStatus, message: str) -> None:
        status.sync = SyncStatus.DEGRADED
        status.message = message

    def _mark_interrupted(self) -> None:
        """Attempts left RUNNING by a crash are closed as FAILED; the next pass redoes them."""
        self.history.close_running(
            self._clock(), "interrupted: the service stopped during this apply"
        )

    def _held(self, desired: DesiredState, status: EnvironmentStatus) -> DesiredState:
        """The desired state with the holds of its environment applied (`held_state`): what a
        hold sets is applied, and not reported as drift."""
        holds = self.history.holds(desired.name)
        status.held = [h.to_dict() for h in holds]
        self.metrics.holds.labels(desired.name).set(len(holds))
        return held_state(desired, [h.route for h in holds])

    def pending_plans(self, environment: str) -> list[Plan]:
        """What a pass would change now (for the API); ControlPlaneError when it cannot say."""
        commit = self.mirror.fetch()
        desired = engine.desired_state(self.mirror.path, environment, commit.sha)
        desired = held_state(desired, [h.route for h in self.history.holds(environment)])
        return [p.plan for p in engine.plan_targets(desired, self._targets(desired))]
