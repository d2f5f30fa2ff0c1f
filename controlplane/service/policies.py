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
from controlplane.engine import Promoter, PromotionResult, Rollbacker, notifications
from controlplane.engine.experiments import experiment_report, experiment_start
from controlplane.errors import ConfigError, ControlPlaneError
from controlplane.history import History, Trigger
from controlplane.logs import log_failure
from controlplane.policy import Evaluation, MetricSource, Outcome, evaluate_policy
from controlplane.rollback.decision import Decision
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.reconciler import Reconciler, utc_now
from controlplane.spec import DesiredState, Environment
from controlplane.spec.experiment import Experiment
from controlplane.spec.policy import CanaryAnalysis, CostPolicy, Policy

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
        promoter: Promoter | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.history = history
        self.metrics = metrics
        self.scheduler = scheduler
        self._source = source
        self._clock = clock
        self.rollbacker = rollbacker
        self.promoter = promoter
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
            state = self.live_state(environment)
            for item in (*policies, *(state.experiments if state else ())):
                groups.setdefault(item.spec.interval.total_seconds(), []).append(item.name)
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
            if state is None:
                return []
            experiments = [e for e in state.experiments if e.name in names]
            if experiments:
                self._experiments(state, experiments)
            return self._run(state, chosen) if chosen else []
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
        try:
            self._promote(state, results, starts, now)
        except Exception as exc:  # promotions must not stop the evaluations
            log_failure(log, "promotion failed", exc, environment=state.name)
        return results

    def _experiments(self, state: DesiredState, experiments: list[Experiment]) -> None:
        """Judge each experiment on the evidence since it went live; a winner is shipped by a
        pull request (the Promoter's dedupe and cooldown apply)."""
        source = self._source_for(state.environment)
        if source is None:
            return
        now = self._clock()
        live = self.history.last_success(state.name)
        for experiment in experiments:
            try:
                started = experiment_start(self.history, state, experiment, live, now)
                report = experiment_report(state, experiment.name, source, now, started)
                self.metrics.experiment_verdicts.labels(
                    state.name, experiment.name, report.verdict.value
                ).inc()
                if report.winner is None or self.promoter is None:
                    continue
                result = self.promoter.ship(state, report, now)
                self._promoted(state, [result], now)
            except Exception as exc:  # one experiment must not stop the others
                log_failure(
                    log, "experiment failed", exc, environment=state.name, policy=experiment.name
                )

    def _promote(
        self,
        state: DesiredState,
        results: list[Evaluation],
        starts: dict[str, datetime],
        now: datetime,
    ) -> None:
        """Keep promotion pull requests and holds true, then propose the canary steps due."""
        if self.promoter is None:
            return
        if self.promoter.sweep(state, now):
            self.reconciler.trigger(state.name, Trigger.HOLD)  # a released hold goes live
        promoted = self.promoter.canary_steps(state, results, starts, now)
        if state.promotions:
            mirror = self.reconciler.mirror
            promoted += self.promoter.environments(
                state,  # the target is read at the branch head, only when a promotion is due
                now,
                lambda target: engine.desired_state(mirror.path, target, mirror.fetch().sha),
            )
        self._promoted(state, promoted, now)

    def _promoted(
        self, state: DesiredState, promoted: list[PromotionResult], now: datetime
    ) -> None:
        for result in promoted:
            if result.pull is not None and result.decision is Decision.OPENED:
                self._notify(
                    state,
                    notifications.promotion_pr_event(
                        state.name,
                        result.pull.title,
                        result.pull.url,
                        now,
                        result.proposal.key if result.proposal else "",
                    ),
                )
            log.info(
                "promotion: %s: %s",
                result.decision.value,
                result.message,
                extra={"environment": state.name},
            )
            self.metrics.promotions.labels(state.name, result.decision.value).inc()

    def _remediate(self, state: DesiredState, policy: Policy, found: list[Evaluation]) -> None:
        """A failed check asks for a rollback PR; a policy passing in full notes it on open ones."""
        if self.rollbacker is None:
            return
        failed = [r for r in found if r.outcome is Outcome.FAIL and self.failing(policy, r)]
        if isinstance(policy, CostPolicy):
            for result in found:
                for event in notifications.budget_threshold_events(policy, result):
                    self._notify(state, event)
        for result in failed:
            self._notify(state, notifications.policy_failed_event(result))
            self.rollbacker.failing_again(state.name, policy.name)
            hold = self._hold(state, policy, result)
            decision = self.rollbacker.propose(state, policy, result)
            if decision.decision is Decision.OPENED and decision.pull and decision.proposal:
                self._notify(
                    state,
                    notifications.rollback_pr_event(
                        state.name,
                        policy.name,
                        decision.proposal.blame_sha,
                        decision.pull.url,
                        result.at,
                        result.reason,
                    ),
                )
            if hold is not None and decision.pull is not None:
                self.history.update_hold(hold, number=decision.pull.number)
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

    def _notify(self, state: DesiredState, event: notifications.Event) -> None:
        notifier = getattr(self.reconciler, "notifier", None)
        if notifier is not None:
            notifier.notify(state.environment, event)

    def _hold(self, state: DesiredState, policy: Policy, result: Evaluation) -> int | None:
        """`remediation.immediate`: a critical canary failure takes the canary's live traffic
        away now (the reconciler applies the hold) while its rollback pull request is open. The
        hold's id when one is placed now or already stands for the route."""
        if not (
            isinstance(policy, CanaryAnalysis)
            and policy.spec.remediation.immediate
            and result.critical
        ):
            return None
        standing = [h for h in self.history.holds(state.name) if h.route == result.route]
        if standing:
            return standing[0].id if standing[0].number is None else None
        hold = self.history.hold(
            state.name, result.route, policy.name, result.reason, self._clock()
        )
        log.warning(
            "critical canary failure: live canary percent held at 0",
            extra={"environment": state.name, "policy": policy.name, "route": result.route},
        )
        self.reconciler.trigger(state.name, Trigger.HOLD)
        return hold

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
