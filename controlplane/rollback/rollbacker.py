"""Turn a failed policy into one rollback pull request, or a recorded reason why not.

Steps: cooldown; breach start (a range query of the failing evidence, else the first failing
evaluation); attribution over the apply history; dedupe against open pull requests on the forge;
a revert (or patch) in a throwaway worktree on the base branch; validation; the plan against the
live targets; commit, push, pull request, labels and reviewers. Every decision is recorded in
the history. Nothing is pushed until the result validates; a failure at any step is recorded and
the next failing evaluation tries again from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import git

from controlplane.credentials import resolve_secret
from controlplane.errors import ConfigError, ControlPlaneError, MetricsUnavailable, TargetError
from controlplane.load import load_config
from controlplane.plan import compute_plan, render_markdown
from controlplane.policy.model import Evaluation, Outcome
from controlplane.prometheus import PrometheusSource, connect
from controlplane.report import render_text
from controlplane.rollback.attribution import Blame, blame, covered_resources, onset
from controlplane.rollback.forge import Forge, PullRequest, forge_for
from controlplane.rollback.gitops import RollbackGit
from controlplane.rollback.patch import patch_route
from controlplane.rollback.proposal import (
    BreachStart,
    Proposal,
    body,
    branch_name,
    commit_message,
    marker_of,
    proposal_labels,
    render_file,
    title,
)
from controlplane.service.gitsync import GitMirror
from controlplane.service.history import History, Result
from controlplane.service.logs import register_secret
from controlplane.spec import DesiredState
from controlplane.spec.environment import Forge as ForgeSpec
from controlplane.spec.policy import Policy, Strategy
from controlplane.targets import Target
from controlplane.targets.select import drivers_for
from controlplane.validate import validate_config

log = logging.getLogger("controlplane.rollback")
LOOKBACK = timedelta(hours=6)  # how far back a breach start is searched
COARSE_STEP = 15.0  # seconds; then refined to 1 s around the crossing


class Decision(StrEnum):
    OPENED = "opened"
    DRY_RUN = "dry-run"
    DUPLICATE = "duplicate"
    COOLDOWN = "cooldown"
    NO_ATTRIBUTION = "no-attributable-change"
    ALREADY_REVERTED = "already-reverted"
    DISABLED = "disabled"
    FAILED = "failed"


RECORDED = (Decision.OPENED, Decision.DRY_RUN)  # what a cooldown counts from


@dataclass(frozen=True)
class RollbackResult:
    decision: Decision
    message: str
    proposal: Proposal | None = None
    pull: PullRequest | None = None
    file: Path | None = None


def _forge(spec: ForgeSpec) -> Forge:
    register_secret(resolve_secret(spec.token))  # never in a log line, whatever fails
    return forge_for(spec)


class Rollbacker:
    def __init__(
        self,
        mirror: GitMirror,
        history: History,
        out_dir: Path,
        dry_run: bool = False,
        targets: Callable[[DesiredState], list[Target]] = lambda d: drivers_for(d.environment),
        forge: Callable[[ForgeSpec], Forge] = _forge,
        source: Callable[[str, str | None], PrometheusSource] = connect,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.mirror = mirror
        self.history = history
        self.out_dir = out_dir
        self.dry_run = dry_run
        self._targets = targets
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
            self.history.record_rollback(env, policy.name, now, decision.value, message, sha)
            log.warning(
                "no rollback PR: %s",
                message,
                extra={"environment": env, "policy": policy.name, "decision": decision.value},
            )
            return RollbackResult(decision, message)

        if policy.spec.remediation.strategy is Strategy.NONE:
            return RollbackResult(Decision.DISABLED, "remediation strategy is none")
        forge_spec = state.environment.spec.forge
        if forge_spec is None and not dry:
            return decided(
                Decision.FAILED,
                f"environment {env} has no forge: set spec.forge to open rollback pull requests",
            )
        wait = policy.spec.remediation.cooldown
        recent = self.history.rollbacks(env, policy.name, tuple(d.value for d in RECORDED), 1)
        if not manual and recent and recent[0].at > now - wait:
            # not recorded again: a failing policy would add a row every interval
            return RollbackResult(
                Decision.COOLDOWN,
                f"a rollback of {policy.name} was proposed at {recent[0].at.isoformat()}, within "
                f"the cooldown of {wait}",
            )
        breach = self.breach_start(state, evaluation)
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
            duplicate = self._open_duplicate(env, policy.name, sha, forge_spec, dry)
            if duplicate:
                return RollbackResult(Decision.DUPLICATE, duplicate)
            return self._propose(
                state, policy, evaluation, breach, found, forge_spec, dry, now, manual
            )
        except (ControlPlaneError, git.GitCommandError) as exc:
            return decided(Decision.FAILED, f"rollback of {sha[:12]} failed: {exc}", sha)

    def _propose(
        self,
        state: DesiredState,
        policy: Policy,
        evaluation: Evaluation,
        breach: BreachStart,
        found: Blame,
        forge_spec: ForgeSpec | None,
        dry: bool,
        now: datetime,
        manual: bool,
    ) -> RollbackResult:
        env = state.name
        base = self.mirror.fetch()  # the rollback goes on top of the branch as it is now
        gitops = RollbackGit(self.mirror)
        shas = gitops.commits_applied(found.commit_sha, found.previous_sha)
        branch = branch_name(env, policy.name, found.commit_sha)
        folder = f"environments/{env}"
        with gitops.worktree(base.sha) as work:
            strategy = policy.spec.remediation.strategy
            note = ""
            if strategy is Strategy.REVERT:
                conflict = gitops.revert(work, shas)
                note = f"git revert of {len(shas)} commit(s)"
                if conflict is not None:
                    strategy = Strategy.PATCH
                    note = f"the revert conflicted ({conflict}), so a minimal patch instead: "
            if strategy is Strategy.PATCH:
                before = found.previous_sha or f"{shas[-1]}^"
                patch = patch_route(
                    gitops.files(base.sha, folder),
                    evaluation.route,
                    gitops.files(before, folder),
                )
                if patch is None:
                    raise ControlPlaneError(
                        f"{note}no patch applies: route {evaluation.route or '(none)'} has no "
                        f"canary or change from {found.commit_sha[:12]} to take back"
                    )
                (Path(work.working_dir) / patch.path).write_text(patch.text)
                note += patch.description
            if not work.is_dirty(index=True, working_tree=True, untracked_files=False):
                return self._already_reverted(env, policy.name, found.commit_sha, now, base.sha)
            desired = self._validated(Path(work.working_dir), env)
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
                branch=branch,
                base=forge_spec.base_branch if forge_spec else self.mirror.branch,
                plan_markdown=self._plan(desired),
                prometheus_url=_prometheus_url(state),
                labels=proposal_labels(env, tuple(forge_spec.labels) if forge_spec else ()),
            )
            if gitops.commit(work, commit_message(proposal)) is None:
                return self._already_reverted(env, policy.name, found.commit_sha, now, base.sha)
            if dry or forge_spec is None:
                return self._write(proposal, now, record=not manual)
            gitops.push(work, branch)
        return self._open(proposal, forge_spec, now)

    # --- steps -----------------------------------------------------------------------------

    def breach_start(self, state: DesiredState, evaluation: Evaluation) -> BreachStart:
        """When the breach began: the earliest onset of the failing evidence's signals in a range
        query; without one, the first of the consecutive failing evaluations."""
        prometheus = state.environment.spec.prometheus
        onsets: list[tuple[datetime, str]] = []
        if prometheus is not None:
            source = self._source(prometheus.url, prometheus.bearer_token)
            for item in evaluation.evidence:
                if not item.signal or item.threshold is None or item.value is None:
                    continue
                if not item.value > item.threshold:
                    continue
                try:
                    start = self._onset(source, item.signal, item.threshold, evaluation.at)
                except MetricsUnavailable as exc:
                    log.warning("breach start: %s", exc)
                    continue
                if start is not None:
                    onsets.append((start, item.name))
        if onsets:
            at, name = min(onsets)
            return BreachStart(at=at, how=f"range query of {name} crossing its threshold")
        failing = self.history.evaluations(
            evaluation.policy,
            limit=1000,
            environment=evaluation.environment,
            check=evaluation.check,
            route=evaluation.route,
        )
        first = evaluation.at
        for earlier in failing:
            if earlier.outcome is not Outcome.FAIL:
                break
            first = min(first, earlier.at)
        return BreachStart(at=first, how="first of the consecutive failing evaluations")

    @staticmethod
    def _onset(
        source: PrometheusSource, signal: str, threshold: float, at: datetime
    ) -> datetime | None:
        coarse = source.series(signal, at - LOOKBACK, at, COARSE_STEP)
        start = onset(coarse, threshold)
        if start is None or start <= coarse[0][0]:
            return start
        fine = source.series(signal, start - timedelta(seconds=COARSE_STEP), start, 1)
        return onset(fine, threshold) or start

    def _explicit(self, environment: str, sha: str) -> Blame:
        """`--commit`: blame this commit, as applied in the history or straight from git."""
        self.mirror.fetch()
        try:
            commit = git.Repo(self.mirror.path).commit(sha)
        except (git.BadName, ValueError) as exc:
            raise ConfigError(f"--commit {sha}: no such commit in the repository") from exc
        attempts = [
            a for a in self.history.attempts(environment, 10_000) if a.result is Result.APPLIED
        ]
        applied = next((a for a in attempts if a.commit_sha == commit.hexsha), None)
        return Blame(
            commit_sha=commit.hexsha,
            author=f"{commit.author.name} <{commit.author.email}>",
            message=str(commit.message).strip(),
            applied_at=(applied.finished_at or applied.started_at)
            if applied
            else commit.committed_datetime,
            previous_sha=None,
            changed=(),
        )

    def _open_duplicate(
        self, env: str, policy: str, sha: str, forge_spec: ForgeSpec | None, dry: bool
    ) -> str:
        """Why a new PR would duplicate an open one; empty when it would not."""
        if dry or forge_spec is None:
            for row in self.history.rollbacks(env, policy, (Decision.DRY_RUN.value,), 1):
                if row.commit_sha == sha:
                    return f"a dry-run rollback of {sha[:12]} is already written ({row.detail})"
            return ""
        for pull in self._forge(forge_spec).open_pull_requests():
            marker = marker_of(pull.body)
            if marker is None:
                continue
            if (marker.get("environment"), marker.get("policy"), marker.get("commit")) == (
                env,
                policy,
                sha,
            ):
                return f"pull request #{pull.number} is already open for {sha[:12]}: {pull.url}"
            if marker.get("environment") == env and sha in marker.get("reverts", []):
                return f"pull request #{pull.number} already reverts {sha[:12]}: {pull.url}"
        return ""

    def _validated(self, folder: Path, env: str) -> DesiredState:
        result = validate_config(load_config(folder), [env])
        if not result.ok:
            raise ControlPlaneError(
                "the rollback does not validate, so it was not pushed:\n"
                + render_text(result, [env]).strip()
            )
        return result.states[env]

    def _plan(self, desired: DesiredState) -> str:
        parts = []
        try:
            for target in self._targets(desired):
                parts.append(
                    render_markdown(compute_plan(desired, target.read(), target.capabilities.kinds))
                )
        except (ControlPlaneError, TargetError) as exc:
            parts.append(f"_The live state could not be read, so there is no plan: {exc}_")
        return "\n".join(parts)

    def _already_reverted(
        self, env: str, policy: str, sha: str, now: datetime, base: str
    ) -> RollbackResult:
        message = f"{base[:12]} no longer has the changes of {sha[:12]}: nothing to take back"
        self.history.record_rollback(
            env, policy, now, Decision.ALREADY_REVERTED.value, message, sha
        )
        log.info(message, extra={"environment": env, "policy": policy})
        return RollbackResult(Decision.ALREADY_REVERTED, message)

    def _write(self, proposal: Proposal, now: datetime, record: bool) -> RollbackResult:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / (proposal.branch.replace("/", "_") + ".md")
        path.write_text(render_file(proposal))
        if record:
            self.history.record_rollback(
                proposal.environment,
                proposal.policy,
                now,
                Decision.DRY_RUN.value,
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

    def _open(self, proposal: Proposal, forge_spec: ForgeSpec, now: datetime) -> RollbackResult:
        forge = self._forge(forge_spec)
        pull = forge.create_pull_request(
            proposal.branch, proposal.base, title(proposal), body(proposal)
        )
        self.history.record_rollback(
            proposal.environment,
            proposal.policy,
            now,
            Decision.OPENED.value,
            title(proposal),
            proposal.blame_sha,
            proposal.branch,
            pull.number,
            pull.url,
        )
        extra = {"environment": proposal.environment, "policy": proposal.policy}
        try:  # the PR is open and recorded; labels and reviewers are best effort
            forge.add_labels(pull.number, list(proposal.labels))
            if forge_spec.reviewers:
                forge.request_reviewers(pull.number, list(forge_spec.reviewers))
        except ControlPlaneError as exc:
            log.warning("rollback PR #%d: %s", pull.number, exc, extra=extra)
        log.warning("rollback PR opened: %s", pull.url, extra={**extra, "pr": pull.number})
        return RollbackResult(Decision.OPENED, f"opened #{pull.number}: {pull.url}", proposal, pull)

    # --- a policy that passes again --------------------------------------------------------

    def passing(self, state: DesiredState, policy: str, evaluation: Evaluation) -> int:
        """Comment once on each open rollback PR of this policy that it passes again. Closes
        nothing: whether to roll back stays a human decision. Returns the comments made."""
        forge_spec = state.environment.spec.forge
        rows = [
            r
            for r in self.history.rollbacks(state.name, policy, (Decision.OPENED.value,))
            if not r.passing_noted and r.number is not None
        ]
        if forge_spec is None or not rows:
            return 0
        forge = self._forge(forge_spec)
        made = 0
        for row in rows:
            assert row.number is not None
            try:
                if not forge.pull_request(row.number).open:
                    self.history.update_rollback(row.id, status="closed")
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
        for row in self.history.rollbacks(environment, policy, (Decision.OPENED.value,)):
            if row.passing_noted:
                self.history.update_rollback(row.id, passing_noted=False)


def _prometheus_url(state: DesiredState) -> str:
    prometheus = state.environment.spec.prometheus
    return prometheus.url if prometheus else ""
