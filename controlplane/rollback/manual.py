"""`controlplane rollback`: the same rollback as the scheduler's, asked for by hand.

It reads what `serve` keeps (the mirror and the apply history in the work folder, by the same
settings), evaluates the policy now, and proposes a rollback for its first failing check. The
cooldown does not apply to a human asking; dedupe against open pull requests does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from controlplane.errors import ConfigError
from controlplane.load import load_config
from controlplane.policy import DIALECTS, Evaluation, Outcome, evaluate_policy
from controlplane.prometheus import connect
from controlplane.report import render_text
from controlplane.rollback.rollbacker import Rollbacker, RollbackResult
from controlplane.service.gitsync import GitMirror, repo_url
from controlplane.service.history import History
from controlplane.service.settings import ServiceSettings
from controlplane.validate import validate_config


@dataclass(frozen=True)
class ManualRollback:
    evaluations: list[Evaluation]
    result: RollbackResult | None  # None when nothing failed and no commit was named
    live_commit: str


def rollback_by_hand(
    settings: ServiceSettings,
    environment: str,
    policy_name: str,
    at: datetime,
    dry_run: bool,
    commit: str | None = None,
) -> ManualRollback:
    mirror = GitMirror(
        repo_url(settings.repo),
        settings.workdir / "mirror.git",
        settings.branch,
        settings.git_token,
    )
    head = mirror.fetch()
    history = History(settings.history_url)
    live = history.last_success(environment)
    sha = live.commit_sha if live else head.sha  # judge what is served; without history, head
    loaded = load_config(mirror.path, sha)
    if environment not in loaded.environments:
        raise ConfigError(f"no environment {environment!r} at {sha[:12]}")
    validated = validate_config(loaded, [environment])
    if not validated.ok:
        raise ConfigError(render_text(validated, [environment]).strip())
    state = validated.states[environment]
    policies = state.policies()
    policy = next((p for p in policies if p.name == policy_name), None)
    if policy is None:
        known = ", ".join(p.name for p in policies) or "none"
        raise ConfigError(
            f"no policy {policy_name!r} selects environment {environment!r} (found: {known})"
        )
    prometheus = state.environment.spec.prometheus
    if prometheus is None:
        raise ConfigError(f"environment {environment!r} has no prometheus to evaluate against")
    source = connect(prometheus.url, prometheus.bearer_token)
    results = evaluate_policy(policy, state, DIALECTS[prometheus.dialect], source, at)
    failed = [r for r in results if r.outcome is Outcome.FAIL]
    if not failed and commit is None:
        return ManualRollback(results, None, sha)
    chosen = failed[0] if failed else results[0]
    rollbacker = Rollbacker(mirror, history, settings.workdir / "rollbacks", dry_run)
    result = rollbacker.propose(state, policy, chosen, commit=commit, manual=True)
    return ManualRollback(results, result, sha)
