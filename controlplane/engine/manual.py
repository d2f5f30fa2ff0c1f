"""A rollback asked for by hand (`controlplane rollback`): the scheduler's rollback, now.

It reads what `serve` keeps (the mirror and the apply history in the work folder, by the same
settings), evaluates the policy now against the commit that is live, and proposes a rollback for
its first failing check. The cooldown does not apply to a human asking; dedupe against open pull
requests does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controlplane.engine.canaries import canary_starts
from controlplane.engine.config import desired_state
from controlplane.engine.connect import dialect_for, metric_source_for
from controlplane.engine.remediation import Rollbacker, RollbackResult
from controlplane.errors import ConfigError
from controlplane.history import History
from controlplane.policy import Evaluation, Outcome, evaluate_policy
from controlplane.repo import GitMirror


@dataclass(frozen=True)
class ManualRollback:
    evaluations: list[Evaluation]
    result: RollbackResult | None  # None when nothing failed and no commit was named
    live_commit: str


def rollback_now(
    mirror: GitMirror,
    history: History,
    out_dir: Path,
    environment: str,
    policy_name: str,
    at: datetime,
    dry_run: bool,
    commit: str | None = None,
) -> ManualRollback:
    head = mirror.fetch()
    live = history.last_success(environment)
    sha = live.commit_sha if live else head.sha  # judge what is served; without history, head
    state = desired_state(mirror.path, environment, sha)
    policies = state.policies()
    policy = next((p for p in policies if p.name == policy_name), None)
    if policy is None:
        known = ", ".join(p.name for p in policies) or "none"
        raise ConfigError(
            f"no policy {policy_name!r} selects environment {environment!r} (found: {known})"
        )
    source = metric_source_for(state.environment)
    if source is None:
        raise ConfigError(f"environment {environment!r} has no prometheus to evaluate against")
    starts = canary_starts(history, state, live, at)
    results = evaluate_policy(policy, state, dialect_for(state.environment), source, at, starts)
    failed = [r for r in results if r.outcome is Outcome.FAIL]
    if not failed and commit is None:
        return ManualRollback(results, None, sha)
    chosen = failed[0] if failed else results[0]
    rollbacker = Rollbacker(mirror, history, out_dir, dry_run)
    result = rollbacker.propose(state, policy, chosen, commit=commit, manual=True)
    return ManualRollback(results, result, sha)
