"""The reconciler: keep each environment's live targets equal to the branch head.

Level-triggered: every pass recomputes the whole difference from git and the live state, so a
webhook is only a hint to look now, and a pass can be killed at any line. Per environment, one
pass runs at a time; triggers that arrive meanwhile coalesce into one more pass.

What a pass records (in the history):
- an invalid commit: INVALID with the problems; nothing is applied, live stays at the last good
  commit;
- changes to make for a new commit (or a manual sync, or self-heal): RUNNING, then APPLIED or
  FAILED after retries with exponential backoff and jitter;
- changes found on a commit already applied, with self-heal off: DRIFT, nothing applied;
- a new commit that needs no change: IN_SYNC.
Repeated identical outcomes (the same drift or the same invalid commit on every poll) are
recorded once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controlplane.apply import apply_plan
from controlplane.errors import ControlPlaneError, TargetError
from controlplane.load import load_config
from controlplane.plan import Plan, compute_plan
from controlplane.report import render_text
from controlplane.service.gitsync import Commit, GitMirror
from controlplane.service.history import History, Result
from controlplane.service.metrics import ControllerMetrics
from controlplane.spec import DesiredState
from controlplane.targets import Target
from controlplane.targets.select import drivers_for
from controlplane.validate import validate_config

log = logging.getLogger("controlplane.reconciler")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class EnvironmentStatus:
    """What the API reports for one environment."""

    sync: str = "unknown"  # synced | out-of-sync | degraded | unknown
    message: str = ""
    head_commit: str = ""
    checked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync,
            "message": self.message,
            "headCommit": self.head_commit,
            "checkedAt": self.checked_at.isoformat() if self.checked_at else None,
        }


@dataclass
class _Slot:
    running: bool = False
    pending: set[str] = field(default_factory=set)


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
        targets: Callable[[DesiredState], list[Target]] = lambda d: drivers_for(d.environment),
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        on_synced: Callable[[str], None] | None = None,
    ) -> None:
        self.mirror = mirror
        self.history = history
        self.metrics = metrics
        self.configured_environments = environments
        self._attempts = attempts
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._targets = targets
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

    def trigger(self, environment: str, reason: str) -> None:
        """Ask for a pass. If one is running, one more pass follows it (bursts coalesce)."""
        with self._lock:
            slot = self._slots.setdefault(environment, _Slot())
            if slot.running:
                slot.pending.add(reason)
                return
            slot.running = True
        self._pool.submit(self._run, environment, reason)

    def trigger_all(self, reason: str) -> None:
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
            loaded = load_config(self.mirror.path, commit.sha)
            self.known_environments = list(loaded.environments)
        except ControlPlaneError as exc:
            log.error("cannot list environments: %s", exc)
        return self.known_environments

    def busy(self, environment: str) -> bool:
        with self._lock:
            slot = self._slots.get(environment)
            return bool(slot and (slot.running or slot.pending))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, environment: str, reason: str) -> None:
        while True:
            try:
                self.reconcile(environment, reason)
            except Exception:  # a bug must not stop this environment's reconciles for good
                log.exception("reconcile crashed", extra={"environment": environment})
            with self._lock:
                slot = self._slots[environment]
                if not slot.pending:
                    slot.running = False
                    return
                # "manual" wins over "webhook" wins over "poll" when they coalesce.
                order = ("manual", "webhook", "startup", "poll")
                reason = min(slot.pending, key=lambda r: order.index(r) if r in order else 9)
                slot.pending.clear()

    # --- one pass ----------------------------------------------------------------------------

    def reconcile(self, environment: str, reason: str) -> None:
        started = time.perf_counter()
        try:
            self._reconcile(environment, reason)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.reconcile_duration.labels(environment).observe(elapsed)

    def _reconcile(self, environment: str, reason: str) -> None:
        status = self.status.setdefault(environment, EnvironmentStatus())
        status.checked_at = self._clock()
        try:
            commit = self.mirror.fetch()
        except ControlPlaneError as exc:
            self._degraded(environment, status, str(exc))
            return
        status.head_commit = commit.sha
        extra = {"environment": environment, "commit": commit.sha[:12]}
        try:
            desired = self._desired(environment, commit, status)
            if desired is None:
                return
            targets = self._targets(desired)
            plans = [(t, compute_plan(desired, t.read(), t.capabilities.kinds)) for t in targets]
        except (ControlPlaneError, TargetError) as exc:
            self._degraded(environment, status, str(exc))
            log.error("cannot plan: %s", exc, extra=extra)
            return
        last_ok = self.history.last_success(environment)
        if all(plan.empty for _, plan in plans):
            if last_ok is None or last_ok.commit_sha != commit.sha:
                self._record(environment, commit, reason, Result.IN_SYNC)
            self._synced(environment, status, commit.sha)
            return
        applied_already = last_ok is not None and last_ok.commit_sha == commit.sha
        if applied_already and reason != "manual" and not desired.environment.spec.self_heal:
            self._drift(environment, commit, reason, plans, status)
            return
        why = "self-heal" if applied_already and reason != "manual" else reason
        self._apply(environment, commit, why, desired, plans, status)

    def _desired(
        self, environment: str, commit: Commit, status: EnvironmentStatus
    ) -> DesiredState | None:
        loaded = load_config(self.mirror.path, commit.sha)
        if environment not in loaded.environments:
            problem = f"commit {commit.sha[:12]} has no environments/{environment}/"
            self._invalid(environment, commit, problem, status)
            return None
        result = validate_config(loaded, [environment])
        if not result.ok:
            text = render_text(result, [environment]).strip()
            self._invalid(environment, commit, text, status)
            return None
        return result.states[environment]

    def _apply(
        self,
        environment: str,
        commit: Commit,
        reason: str,
        desired: DesiredState,
        plans: list[tuple[Target, Plan]],
        status: EnvironmentStatus,
    ) -> None:
        extra = {"environment": environment, "commit": commit.sha[:12]}
        attempt = self.history.start(
            environment, commit.sha, commit.author, commit.message, reason, self._clock()
        )
        applied: list[dict[str, str]] = []
        error = ""
        for target, plan in plans:
            for try_number in range(1, self._attempts + 1):
                result = apply_plan(plan, target)
                for r in result.results:
                    if r.outcome.value == "applied":
                        change = {
                            "action": r.change.action.value,
                            "kind": r.change.kind,
                            "name": r.change.name,
                            "target": target.name,
                        }
                        applied.append(change)
                        log.info(
                            "applied %s %s",
                            change["action"],
                            r.change.ref,
                            extra={**extra, "change": r.change.ref},
                        )
                if result.ok:
                    error = ""
                    break
                error = "; ".join(r.error for r in result.results if r.error)
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
                    plan = compute_plan(desired, target.read(), target.capabilities.kinds)
                except TargetError as exc:
                    error = str(exc)
            if error:
                break
        result_kind = Result.FAILED if error else Result.APPLIED
        self.history.finish(attempt, result_kind, self._clock(), error, applied)
        self.metrics.applies.labels(environment, result_kind.value).inc()
        if error:
            self._degraded(environment, status, f"apply of {commit.sha[:12]} failed: {error}")
        else:
            self._synced(environment, status, commit.sha)
            log.info("environment synced (%s)", reason, extra=extra)

    def _backoff(self, try_number: int) -> None:
        delay = min(self._retry_max, self._retry_base * 2 ** (try_number - 1))
        self._sleep(delay / 2 + random.uniform(0, delay / 2))  # "equal jitter"

    # --- outcomes ----------------------------------------------------------------------------

    def _record(
        self,
        environment: str,
        commit: Commit,
        reason: str,
        result: Result,
        error: str = "",
        changes: list[dict[str, str]] | None = None,
    ) -> None:
        now = self._clock()
        attempt = self.history.start(
            environment, commit.sha, commit.author, commit.message, reason, now
        )
        self.history.finish(attempt, result, now, error, changes)
        self.metrics.applies.labels(environment, result.value).inc()

    def _repeats(self, environment: str, sha: str, result: Result) -> bool:
        last = self.history.last(environment)
        return last is not None and last.commit_sha == sha and last.result is result

    def _invalid(
        self, environment: str, commit: Commit, problems: str, status: EnvironmentStatus
    ) -> None:
        if not self._repeats(environment, commit.sha, Result.INVALID):
            self._record(environment, commit, "validate", Result.INVALID, problems)
            log.error(
                "commit is invalid; nothing applied",
                extra={"environment": environment, "commit": commit.sha[:12], "error": problems},
            )
        live = self.history.last_success(environment)
        status.sync = "degraded"
        status.message = (
            f"commit {commit.sha[:12]} is invalid and was not applied; live stays at "
            f"{live.commit_sha[:12] if live else 'nothing applied yet'}:\n{problems}"
        )

    def _drift(
        self,
        environment: str,
        commit: Commit,
        reason: str,
        plans: list[tuple[Target, Plan]],
        status: EnvironmentStatus,
    ) -> None:
        changes = [
            {"action": c.action.value, "kind": c.kind, "name": c.name, "target": t.name}
            for t, plan in plans
            for c in plan.changes
        ]
        self.metrics.drift.labels(environment).inc()
        if not self._repeats(environment, commit.sha, Result.DRIFT):
            self._record(environment, commit, reason, Result.DRIFT, "", changes)
            log.warning(
                "drift detected; self-heal is off",
                extra={"environment": environment, "commit": commit.sha[:12]},
            )
        status.sync = "out-of-sync"
        status.message = "drift: live differs from the applied commit in " + ", ".join(
            f"{c['kind']}/{c['name']}" for c in changes
        )

    def _synced(self, environment: str, status: EnvironmentStatus, sha: str) -> None:
        status.sync = "synced"
        status.message = ""
        self.metrics.last_success.labels(environment).set(self._clock().timestamp())
        self.metrics.set_applied_commit(environment, sha)
        if self.on_synced is not None:
            self.on_synced(environment)

    def _degraded(self, environment: str, status: EnvironmentStatus, message: str) -> None:
        status.sync = "degraded"
        status.message = message

    def _mark_interrupted(self) -> None:
        """Attempts left RUNNING by a crash are closed as FAILED; the next pass redoes them."""
        self.history.close_running(
            self._clock(), "interrupted: the service stopped during this apply"
        )

    def pending_plans(self, environment: str) -> list[Plan]:
        commit = self.mirror.fetch()
        loaded = load_config(self.mirror.path, commit.sha)
        result = validate_config(loaded, [environment])
        if not result.ok:
            raise ControlPlaneError(render_text(result, [environment]).strip())
        desired = result.states[environment]
        return [
            compute_plan(desired, t.read(), t.capabilities.kinds) for t in self._targets(desired)
        ]
