"""Policy evaluation inside `serve`: APScheduler jobs per environment and interval.

Policies are read from the commit that is live in the environment (what is being served is what
gets judged). Each run evaluates at the clock's time, stores every result in the history
database (one transaction per run), and updates the metrics. A check counts as failing only after
`failAfter` consecutive failing evaluations, or at once when the failure is critical;
inconclusive results never count towards it. Canaries are judged on the evidence since their
configuration went live (`engine.canary_starts`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from controlplane import engine
from controlplane.engine import Rollbacker
from controlplane.errors import ConfigError, ControlPlaneError
from controlplane.history import History
from controlplane.logs import log_failure
from controlplane.policy import Evaluation, MetricSource, Outcome, evaluate_policy
from controlplane.rollback.decision import Decision
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.reconciler import Reconciler, utc_now
from controlplane.spec import DesiredState, Environment
from controlplane.spec.policy import CanaryAnalysis, Policy

log = logging.getLogger("controlplane.policies")
RESULT_VALUE = {Outcome.PASS: 1, Outcome.INCONCLUSIVE: 0, Outcome.FAIL: -1}


class PolicyRunner:
    def __init__(
        self,
        reconciler: Reconciler,
        history: History,
        metrics: ControllerMetrics,
        scheduler: Any | None = None,
        source: Callable[[Environment], MetricSource | None] = engine.metric_source_for,
        clock: Callable[[], datetime] = utc_now,
        rollbacker: Rollbacker | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.history = history
        self.metrics = metrics
        self.scheduler = scheduler
        self._source = source
        self._clock = clock
        self.rollbacker = rollbacker
        # A commit never changes, so its validated state is kept: jobs run every interval.
        self._states: dict[tuple[str, str], DesiredState | None] = {}
        self._sync_lock = threading.Lock()  # sync_jobs runs from polls and reconcile threads
        self._sources: dict[str, tuple[str, MetricSource | None]] = {}

    def live_state(self, environment: str) -> DesiredState | None:
        live = self.history.last_success(environment)
        if live is None:
            return None
        key = (environment, live.commit_sha)
        if key not in self._states:
            self._states = {k: v for k, v in self._states.items() if k[0] != environment}
            try:
                state = engine.desired_state(self.reconciler.mirror.path, environment, key[1])
            except ConfigError:  # a commit never changes: it stays without policies
                state = None
            self._states[key] = state
        return self._states[key]

    def policies(self, environment: str) -> list[Policy]:
        state = self.live_state(environment)
        if state is None:
            return []
        return list(state.policies())

    def sync_jobs(self) -> None:
        """Schedule the policies of every live environment: one job per (environment,
        interval), so policies that share an interval are evaluated together, at one time,
        with their queries batched."""
        if self.scheduler is None:
            return
        with self._sync_lock:
            try:
                self._sync_jobs()
            except Exception as exc:  # the next poll or sync tries again
                log_failure(log, "scheduling the policies failed", exc)

    def _sync_jobs(self) -> None:
        assert self.scheduler is not None
        wanted: dict[str, tuple[str, list[str], float]] = {}
        for environment in self.reconciler.environments():
            try:
                policies = self.policies(environment)
            except ControlPlaneError as exc:
                log.error("cannot read policies: %s", exc, extra={"environment": environment})
                continue
            groups: dict[float, list[str]] = {}
            for policy in policies:
                groups.setdefault(policy.spec.interval.total_seconds(), []).append(policy.name)
            for seconds, names in groups.items():
                wanted[f"policies:{environment}:{seconds:g}"] = (environment, names, seconds)
        for job_id, (environment, names, seconds) in wanted.items():
            existing = self.scheduler.get_job(job_id)
            if existing is None or existing.args != (environment, names):
                self.scheduler.add_job(
                    self.run,
                    "interval",
                    args=[environment, names],
                    id=job_id,
                    seconds=seconds,
                    coalesce=True,
                    max_instances=1,
                    replace_existing=True,
                )
        for job in self.scheduler.get_jobs():
            if job.id.startswith("policies:") and job.id not in wanted:
                job.remove()

    def run(self, environment: str, names: list[str]) -> list[Evaluation]:
        """Evaluate these policies now; never raises (a failure is logged, not propagated)."""
        try:
            state = self.live_state(environment)
            chosen = [p for p in self.policies(environment) if p.name in names]
            if state is None or not chosen:
                return []
            return self._run(state, chosen)
        except Exception as exc:  # the scheduler must keep running whatever one policy does
            log_failure(
                log,
                "policy evaluation failed",
                exc,
                environment=environment,
                policy=",".join(names),
            )
            return []

    def _source_for(self, environment: Environment) -> MetricSource | None:
        """The environment's metric source, kept while its Prometheus settings stay the same:
        it remembers the per-minute answers canary analysis has already read."""
        prometheus = environment.spec.prometheus
        key = prometheus.model_dump_json() if prometheus else ""
        kept = self._sources.get(environment.name)
        if kept is None or kept[0] != key:
            kept = self._sources[environment.name] = (key, self._source(environment))
        return kept[1]

    def _run(self, state: DesiredState, policies: list[Policy]) -> list[Evaluation]:
        source = self._source_for(state.environment)
        if source is None:
            return []
        dialect = engine.dialect_for(state.environment)
        now = self._clock()
        starts: dict[str, datetime] = {}
        if any(isinstance(p, CanaryAnalysis) for p in policies):
            live = self.history.last_success(state.name)
            starts = engine.canary_starts(self.history, state, live, now)
            source.expect(starts)
        evaluated = [
            (policy, evaluate_policy(policy, state, dialect, source, now, starts))
            for policy in policies
        ]
        self.history.record_evaluations([r for _, found in evaluated for r in found])
        results: list[Evaluation] = []
        for policy, found in evaluated:
            for result in found:
                labels = {
                    "policy": result.policy,
                    "check": result.check,
                    "environment": result.environment,
                    "route": result.route,
                }
                self.metrics.policy_evaluations.labels(result.policy, result.outcome.value).inc()
                self.metrics.policy_last_result.labels(**labels).set(RESULT_VALUE[result.outcome])
                self.metrics.policy_failing.labels(**labels).set(int(self.failing(policy, result)))
            results += found
            try:
                self._remediate(state, policy, found)
            except Exception as exc:  # one policy's rollback must not stop the others' evaluation
                log_failure(log, "rollback failed", exc, environment=state.name, policy=policy.name)
        return results

    def _remediate(self, state: DesiredState, policy: Policy, found: list[Evaluation]) -> None:
        """A failed check asks for a rollback PR; a policy passing in full notes it on open ones."""
        if self.rollbacker is None:
            return
        failed = [r for r in found if r.outcome is Outcome.FAIL and self.failing(policy, r)]
        for result in failed:
            self.rollbacker.failing_again(state.name, policy.name)
            decision = self.rollbacker.propose(state, policy, result)
            log.info(
                "rollback: %s: %s",
                decision.decision.value,
                decision.message,
                extra={"environment": state.name, "policy": policy.name},
            )
            self.metrics.rollbacks.labels(state.name, policy.name, decision.decision.value).inc()
            if decision.decision in (Decision.OPENED, Decision.DRY_RUN, Decision.DUPLICATE):
                break  # one PR per policy and tick; the other checks share its blame
        if found and all(r.outcome is Outcome.PASS for r in found):
            self.rollbacker.passing(state, policy.name, found[0])

    def failing(self, policy: Policy, result: Evaluation) -> bool:
        """Whether the last `failAfter` evaluations of this check all failed (a critical failure
        at once). `result` is the newest, already recorded."""
        if result.outcome is not Outcome.FAIL:
            return False
        if result.critical or policy.spec.fail_after == 1:
            return True
        recent = self.history.evaluations(
            policy.name,
            limit=policy.spec.fail_after,
            environment=result.environment,
            check=result.check,
            route=result.route,
        )
        return len(recent) == policy.spec.fail_after and all(
            e.outcome is Outcome.FAIL for e in recent
        )
