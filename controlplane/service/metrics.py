"""The controller's own Prometheus metrics. Names are documented in the README."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.reconcile_duration = Histogram(
            "controlplane_reconcile_duration_seconds",
            "Duration of one reconcile pass.",
            ["environment"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.applies = Counter(
            "controlplane_applies",
            "Reconcile outcomes that were recorded, by result.",
            ["environment", "result"],
            registry=r,
        )
        self.drift = Counter(
            "controlplane_drift_detected",
            "Passes that found live state off an applied commit.",
            ["environment"],
            registry=r,
        )
        self.last_success = Gauge(
            "controlplane_last_successful_sync_timestamp_seconds",
            "When live last matched git, as a Unix time.",
            ["environment"],
            registry=r,
        )
        self.applied_commit = Gauge(
            "controlplane_applied_commit_info",
            "The commit live in each environment (value 1).",
            ["environment", "commit"],
            registry=r,
        )
        self.webhooks = Counter(
            "controlplane_webhook_deliveries",
            "Webhook deliveries by result.",
            ["result"],
            registry=r,
        )

        check = ["policy", "check", "environment", "route"]
        self.policy_evaluations = Counter(
            "policy_evaluations",
            "Policy evaluations by result.",
            ["policy", "result"],
            registry=r,
        )
        self.policy_last_result = Gauge(
            "policy_last_result",
            "Last result of each check: 1 pass, 0 inconclusive, -1 fail.",
            check,
            registry=r,
        )
        self.policy_failing = Gauge(
            "policy_failing",
            "1 when the check failed failAfter times in a row.",
            check,
            registry=r,
        )
        self.rollbacks = Counter(
            "rollback_decisions_total",
            "What a failed policy led to: opened, dry-run, duplicate, cooldown, "
            "no-attributable-change, already-reverted, failed.",
            ["environment", "policy", "decision"],
            registry=r,
        )
        self.promotions = Counter(
            "promotion_decisions_total",
            "What a passing canary step led to: opened, dry-run, duplicate, cooldown, "
            "blocked-by-rollback, failed.",
            ["environment", "decision"],
            registry=r,
        )
        self.experiment_verdicts = Counter(
            "experiment_verdicts_total",
            "Experiment looks by verdict: winner, loser, no-difference, continue.",
            ["environment", "experiment", "verdict"],
            registry=r,
        )
        self.holds = Gauge(
            "canary_holds",
            "Routes whose live canary percent is held at 0 while a rollback PR is open.",
            ["environment"],
            registry=r,
        )

    def set_applied_commit(self, environment: str, sha: str) -> None:
        for labels in list(self.applied_commit._metrics):  # one series per environment
            if labels[0] == environment:
                self.applied_commit.remove(*labels)
        self.applied_commit.labels(environment=environment, commit=sha).set(1)
