"""Turn a failed policy into one rollback pull request, or a recorded reason why not.

Steps: cooldown; breach start (`breach`); attribution over the apply history; dedupe against
open pull requests on the forge; a revert (or patch) in a throwaway worktree on the base branch;
validation; the plan against the live targets; commit, push, pull request, labels and reviewers.
Every decision is recorded in the history. Nothing is pushed until the result validates; a
failure at any step is recorded and the next failing evaluation tries again from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controlplane.engine.breach import SeriesSource, breach_start
from controlplane.engine.connect import (
    forge_for,
    metric_source_for,
    mirror_targets,
)
from controlplane.engine.pull_requests import (
    open_pull_request,
    plan_markdown,
    validated,
    write_pull_request,
)
from controlplane.errors import ConfigError, ControlPlaneError
from controlplane.forge import Forge, PullRequest
from controlplane.history import AttemptResult, History
from controlplane.policy import Evaluation
from controlplane.render import (
    render_body,
    render_commit_message,
    render_pull_request_file,
    render_title,
)
from controlplane.repo import GitMirror, Workspace, Worktree
from controlplane.rollback.attribution import Blame, blame, covered_resources
from controlplane.rollback.decision import PROPOSED, Decision
from controlplane.rollback.patch import patch_route
from controlplane.rollback.proposal import (
    BreachStart,
    Proposal,
    branch_name,
    marker_of,
    proposal_labels,
)
from controlplane.spec import DesiredState, Environment
from controlplane.spec.environment import ForgeConfig
from controlplane.spec.policy import Policy, Strategy
from controlplane.targets import Target

log = logging.getLogger("controlplane.rollback")


@dataclass(frozen=True)
class RollbackResult:
    decision: Decision
    message: str
    proposal: Proposal | None = None
    pull: PullRequest | None = None
    file: Path | None = None


class Rollbacker:
    def __init__(
        self,
        mirror: GitMirror,
        history: History,
        out_dir: Path,
        dry_run: bool = False,
        targets: Callable[[DesiredState], list[Target]] | None = None,
        forge: Callable[[ForgeConfig], Forge] = forge_for,
        source: Callable[[Environment], SeriesSource | None] = metric_source_for,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.mirror = mirror
        self.history = history
        self.out_dir = out_dir
        self.dry_run = dry_run
        self._targets = targets or mirror_targets(mirror)
        self._forge = forge
        self._source = source
        self._clock = clock

    def _now(self, evaluation: Evaluation) -> datetime:
        return self._clock() if self._clock else evaluation.at

    # --- the whole decision ----------------------------------------------------------------

    def propose(
        self,
        state: DesiredState,
        policy: Policy,
        evaluation: Evaluation,
        dry_run: bool | None = None,
        commit: str | None = None,
        manual: bool = False,
    ) -> RollbackResult:
        """Open (or, in dry-run, write) the rollback PR for this failed evaluation. `commit`
        blames that commit instead of attributing. `manual`: a human asked, so the cooldown
        does not apply and a dry run leaves no record for the scheduler's cooldown or dedupe."""
        dry = self.dry_run if dry_run is None else dry_run
        env = state.name
        now = self._now(evaluation)

        def decided(decision: Decision, message: str, sha: str = "") -> RollbackResult:
            self.history.record_rollback(env, policy.name, now, decision, message, sha)
            log.warning(
                "no rollback PR: %s",
                message,
                extra={"environment": env, "policy": policy.name, "decision": decision.value},
            )
            return RollbackResult(decision, message)

        if policy.spec.remediation.strategy is Strategy.NONE:
            return RollbackResult(Decision.DISABLED, "remediation strategy is none")
        forge_config = state.environment.spec.forge
        if forge_config is None and not dry:
            return decided(
                Decision.FAILED,
                f"environment {env} has no forge: set spec.forge to open rollback pull requests",
            )
        wait = policy.spec.remediation.cooldown
        recent = self.history.rollbacks(env, policy.name, PROPOSED, 1)
        if not manual and recent and recent[0].at > now - wait:
            # not recorded again: a failing policy would add a row every interval
            return RollbackResult(
                Decision.COOLDOWN,
                f"a rollback of {policy.name} was proposed at {recent[0].at.isoformat()}, within "
                f"the cooldown of {wait}",
            )
        breach = breach_start(evaluation, self._source(state.environment), self.history)
        found: Blame | None
        if commit is not None:
            found = self._explicit(env, commit)
        else:
            found = blame(
                self.history.attempts(env, limit=10_000),
                covered_resources(state, evaluation.route),
                breach.at,
            )
        if found is None:
            return decided(
                Decision.NO_ATTRIBUTION,
                f"no attributable change: no apply before the breach start "
                f"{breach.at.isoformat()} changed what {evaluation.check} on route "
                f"{evaluation.route or '(all)'} covers",
            )
        sha = found.commit_sha
        try:
            duplicate, pull = self._open_duplicate(env, policy.name, sha, forge_config, dry)
            if duplicate:
                return RollbackResult(Decision.DUPLICATE, duplicate, pull=pull)
            return self._propose(
                state, policy, evaluation, breach, found, forge_config, dry, now, manual
            )
        except ControlPlaneError as exc:
            return decided(Decision.FAILED, f"rollback of {sha[:12]} failed: {exc}", sha)

    def _propose(
        self,
        state: DesiredState,
        policy: Policy,
        evaluation: Evaluation,
        breach: BreachStart,
        found: Blame,
        forge_config: ForgeConfig | None,
        dry: bool,
        now: datetime,
        manual: bool,
    ) -> RollbackResult:
        env = state.name
        base = self.mirror.fetch()  # the rollback goes on top of the branch as it is now
        workspace = Workspace(self.mirror)
        shas = workspace.commits_applied(found.commit_sha, found.previous_sha)
        with workspace.worktree(base.sha) as work:
            strategy, note = _take_back(
                workspace, work, base.sha, policy.spec.remediation.strategy, evaluation, found, shas
            )
            if not work.changed():
                return self._already_reverted(env, policy.name, found.commit_sha, now, base.sha)
            desired = validated(work.path, env, "rollback")
            proposal = Proposal(
                environment=env,
                policy=policy.name,
                policy_kind=policy.KIND,
                evaluation=evaluation,
                breach=breach,
                blame_sha=found.commit_sha,
                blame_author=found.author,
                blame_message=found.message,
                blame_applied_at=found.applied_at,
                reverts=tuple(shas),
                strategy=strategy.value,
                strategy_note=note,
                branch=branch_name(env, policy.name, found.commit_sha),
                base=forge_config.base_branch if forge_config else self.mirror.branch,
                plan_markdown=plan_markdown(desired, self._targets),
                prometheus_url=_prometheus_url(state),
                labels=proposal_labels(env, tuple(forge_config.labels) if forge_config else ()),
            )
            if work.commit(render_commit_message(proposal)) is None:
                return self._already_reverted(env, policy.name, found.commit_sha, now, base.sha)
            if dry or forge_config is None:
                return self._write(proposal, now, record=not manual)
            work.push(proposal.branch)
        return self._open(proposal, forge_config, now)

    # --- steps -----------------------------------------------------------------------------

    def _explicit(self, environment: str, sha: str) -> Blame:
        """`--commit`: blame this commit, as applied in the history or straight from git."""
        self.mirror.fetch()
        try:
            commit = self.mirror.commit(sha)
        except ConfigError as exc:
            raise ConfigError(f"--commit {sha}: no such commit in the repository") from exc
        applied = next(
            (
                a
                for a in self.history.attempts(environment, 10_000)
                if a.result is AttemptResult.APPLIED and a.commit_sha == commit.sha
            ),
            None,
        )
        return Blame(
            commit_sha=commit.sha,
            author=commit.author,
            message=commit.message,
            applied_at=(applied.finished_at or applied.started_at)
            if applied
            else commit.committed_at,
            previous_sha=None,
            changed=(),
        )

    def _open_duplicate(
        self, env: str, policy: str, sha: str, forge_config: ForgeConfig | None, dry: bool
    ) -> tuple[str, PullRequest | None]:
        """Why a new PR would duplicate an open one, and that one; empty when it would not."""
        if dry or forge_config is None:
            for row in self.history.rollbacks(env, policy, (Decision.DRY_RUN,), 1):
                if row.commit_sha == sha:
                    return (
                        f"a dry-run rollback of {sha[:12]} is already written ({row.detail})",
                        None,
                    )
            return "", None
        for pull in self._forge(forge_config).open_pull_requests():
            marker = marker_of(pull.body)
            if marker is None:
                continue
            if (marker.get("environment"), marker.get("policy"), marker.get("commit")) == (
                env,
                policy,
                sha,
            ):
                return (
                    f"pull request #{pull.number} is already open for {sha[:12]}: {pull.url}",
                    pull,
                )
            if marker.get("environment") == env and sha in marker.get("reverts", []):
                return f"pull request #{pull.number} already reverts {sha[:12]}: {pull.url}", pull
        return "", None

    def _already_reverted(
        self, env: str, policy: str, sha: str, now: datetime, base: str
    ) -> RollbackResult:
        message = f"{base[:12]} no longer has the changes of {sha[:12]}: nothing to take back"
        self.history.record_rollback(env, policy, now, Decision.ALREADY_REVERTED, message, sha)
        log.info(message, extra={"environment": env, "policy": policy})
        return RollbackResult(Decision.ALREADY_REVERTED, message)

    def _write(self, proposal: Proposal, now: datetime, record: bool) -> RollbackResult:
        path = write_pull_request(self.out_dir, proposal.branch, render_pull_request_file(proposal))
        if record:
            self.history.record_rollback(
                proposal.environment,
                proposal.policy,
                now,
                Decision.DRY_RUN,
                str(path),
                proposal.blame_sha,
                proposal.branch,
            )
        log.warning(
            "dry run: rollback PR written to %s",
            path,
            extra={"environment": proposal.environment, "policy": proposal.policy},
        )
        return RollbackResult(Decision.DRY_RUN, f"written to {path}", proposal, file=path)

    def _open(self, proposal: Proposal, forge_config: ForgeConfig, now: datetime) -> RollbackResult:
        forge = self._forge(forge_config)
        title = render_title(proposal)
        extra = {"environment": proposal.environment, "policy": proposal.policy}
        pull = open_pull_request(
            forge,
            forge_config,
            proposal.branch,
            proposal.base,
            title,
            render_body(proposal),
            list(proposal.labels),
            extra,
        )
        self.history.record_rollback(
            proposal.environment,
            proposal.policy,
            now,
            Decision.OPENED,
            title,
            proposal.blame_sha,
            proposal.branch,
            pull.number,
            pull.url,
        )
        log.warning("rollback PR opened: %s", pull.url, extra={**extra, "pr": pull.number})
        return RollbackResult(Decision.OPENED, f"opened #{pull.number}: {pull.url}", proposal, pull)

    # --- a policy that passes again --------------------------------------------------------

    def passing(self, state: DesiredState, policy: str, evaluation: Evaluation) -> int:
        """Comment once on each open rollback PR of this policy that it passes again. Closes
        nothing: whether to roll back stays a human decision. Returns the comments made."""
        forge_config = state.environment.spec.forge
        rows = [
            r
            for r in self.history.rollbacks(state.name, policy, (Decision.OPENED,))
            if not r.passing_noted and r.number is not None
        ]
        if forge_config is None or not rows:
            return 0
        forge = self._forge(forge_config)
        made = 0
        for row in rows:
            assert row.number is not None
            try:
                if not forge.pull_request(row.number).open:
                    self.history.update_rollback(row.id, status=Decision.CLOSED)
                    continue
                forge.comment(
                    row.number,
                    f"`{policy}` passes again as of {evaluation.at.isoformat()}: "
                    f"{evaluation.reason}.\n\nThis pull request stays open: merge it to roll "
                    "back anyway, or close it to keep what is live.",
                )
            except ControlPlaneError as exc:
                log.warning("cannot comment on #%d: %s", row.number, exc)
                continue
            self.history.update_rollback(row.id, passing_noted=True)
            made += 1
        return made

    def failing_again(self, environment: str, policy: str) -> None:
        """A policy that failed after passing may pass again later: comment then too."""
        for row in self.history.rollbacks(environment, policy, (Decision.OPENED,)):
            if row.passing_noted:
                self.history.update_rollback(row.id, passing_noted=False)


def _take_back(
    workspace: Workspace,
    work: Worktree,
    base: str,
    strategy: Strategy,
    evaluation: Evaluation,
    found: Blame,
    shas: list[str],
) -> tuple[Strategy, str]:
    """Revert (or patch) the blamed change in the worktree: the strategy used, and a note on
    how. A revert that conflicts falls back to the patch."""
    note = ""
    if strategy is Strategy.REVERT:
        conflict = work.revert(shas)
        note = f"git revert of {len(shas)} commit(s)"
        if conflict is None:
            return strategy, note
        strategy = Strategy.PATCH
        note = f"the revert conflicted ({conflict}), so a minimal patch instead: "
    folder = f"environments/{evaluation.environment}"
    before = found.previous_sha or f"{shas[-1]}^"
    patch = patch_route(
        workspace.files(base, folder), evaluation.route, workspace.files(before, folder)
    )
    if patch is None:
        raise ControlPlaneError(
            f"{note}no patch applies: route {evaluation.route or '(none)'} has no "
            f"canary or change from {found.commit_sha[:12]} to take back"
        )
    work.write(patch.path, patch.text)
    return strategy, note + patch.description


def _prometheus_url(state: DesiredState) -> str:
    prometheus = state.environment.spec.prometheus
    return prometheus.url if prometheus else ""
