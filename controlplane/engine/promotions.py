"""Promotion pull requests, and the rules that keep rolling forward from fighting rolling back.

- A canary with steps whose every CanaryAnalysis PASSES on its route (shown within the allowed
  increase on enough samples, not merely "no failure yet"), with nothing failing on the route and
  the step baked, gets a pull request moving it to the next step, or, from the last step, making
  it the route's model.
- Nothing is promoted on a route while a rollback pull request is open for it; a promotion pull
  request open then is commented on and labelled stale, once.
- `remediation.immediate`: a critical canary failure holds the live canary percent at 0 until its
  rollback pull request is merged or closed (the reconciler applies the hold, `held_state`).

Every decision that reaches a reviewer, and every failure, is in the history (`promotions`,
`holds`); open pull requests on the forge, with their markers, are the dedupe record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from controlplane.engine.connect import forge_for, mirror_targets
from controlplane.engine.pull_requests import (
    open_pull_request,
    plan_markdown,
    validated,
    write_pull_request,
)
from controlplane.errors import ControlPlaneError
from controlplane.forge import Forge, PullRequest
from controlplane.history import AttemptResult, History, Hold
from controlplane.policy import Evaluation, Outcome
from controlplane.policy.experiment import ExperimentReport
from controlplane.promotion.environment import (
    carry_promotion,
    render_carry_markdown,
    render_carry_title,
)
from controlplane.promotion.proposal import (
    STALE_LABEL,
    PromotionKind,
    PromotionProposal,
    branch_name,
    marker_of,
    promotion_labels,
)
from controlplane.promotion.steps import promote_canary
from controlplane.promotion.winner import FileEdit, retire_experiment, ship_winner
from controlplane.render.experiment import render_experiment_markdown
from controlplane.render.promotion import (
    render_promotion_body,
    render_promotion_commit_message,
    render_promotion_file,
    render_promotion_title,
)
from controlplane.repo import GitMirror, Workspace
from controlplane.rollback import proposal as rollback_proposal
from controlplane.rollback.decision import Decision
from controlplane.rollback.patch import Patch
from controlplane.spec import DesiredState, Route
from controlplane.spec.base import format_duration
from controlplane.spec.environment import ForgeConfig
from controlplane.spec.policy import CanaryAnalysis
from controlplane.spec.promotion import Promotion
from controlplane.targets import Target

log = logging.getLogger("controlplane.promotion")


@dataclass(frozen=True)
class PromotionResult:
    decision: Decision
    message: str
    proposal: PromotionProposal | None = None
    pull: PullRequest | None = None
    file: Path | None = None


@dataclass(frozen=True)
class Request:
    """One promotion to propose: the route's file edits are made on the base branch's head."""

    kind: PromotionKind
    environment: str  # whose files change
    route: str
    key: str
    title: str
    summary: tuple[str, ...]
    evaluations: tuple[Evaluation, ...]
    # the files of `folders` at the base branch's head -> edits ([]: no longer due)
    edit: Callable[[dict[str, str]], Sequence[Patch | FileEdit]]
    auto_merge: bool = False
    cooldown_seconds: float = 3600.0
    source_environment: str = ""
    folders: tuple[str, ...] = ()  # what `edit` reads; default: the environment's folder


def rollback_routes(pulls: Sequence[PullRequest], environment: str) -> dict[str, PullRequest]:
    """Route -> the open rollback pull request for it ("" for one that names no route)."""
    found: dict[str, PullRequest] = {}
    for pull in pulls:
        marker = rollback_proposal.marker_of(pull.body)
        if marker is not None and marker.get("environment") == environment:
            found.setdefault(str(marker.get("route") or ""), pull)
    return found


def _blocking(rollbacks: dict[str, PullRequest], route: str) -> PullRequest | None:
    """The rollback pull request that stops promotions on `route` (one naming no route, from
    an older version, blocks every route of its environment)."""
    return rollbacks.get(route) or rollbacks.get("")


class Promoter:
    def __init__(
        self,
        mirror: GitMirror,
        history: History,
        out_dir: Path,
        dry_run: bool = False,
        targets: Callable[[DesiredState], list[Target]] | None = None,
        forge: Callable[[ForgeConfig], Forge] = forge_for,
    ) -> None:
        self.mirror = mirror
        self.history = history
        self.out_dir = out_dir
        self.dry_run = dry_run
        self._targets = targets or mirror_targets(mirror)
        self._forge = forge

    # --- canary steps ------------------------------------------------------------------------

    def canary_steps(
        self,
        state: DesiredState,
        results: Sequence[Evaluation],
        starts: dict[str, datetime],
        now: datetime,
    ) -> list[PromotionResult]:
        """Propose the next step of every canary that passed at this tick and has baked."""
        due = [
            r
            for r in (
                self._canary_step(state, route, results, starts, now) for route in state.routes
            )
            if r is not None
        ]
        return [self.propose(state, request, now) for request in due]

    def _canary_step(
        self,
        state: DesiredState,
        route: Route,
        results: Sequence[Evaluation],
        starts: dict[str, datetime],
        now: datetime,
    ) -> Request | None:
        canary = route.spec.canary
        step = canary.next_step if canary is not None else None
        if canary is None or step is None:
            return None
        to, final = step
        mine = [r for r in results if r.route == route.name]
        analyses = [r for r in mine if r.kind == CanaryAnalysis.KIND]
        if not analyses or any(r.outcome is Outcome.FAIL for r in mine):
            return None
        # Promoted on a shown pass only, never on "no failure yet"; at 100% there is no
        # baseline left to compare with, so the step's bake time with nothing failing is it.
        if canary.percent < 100 and any(r.outcome is not Outcome.PASS for r in analyses):
            return None
        started = starts.get(route.name)
        if started is None or now - started < canary.bake_time:
            return None
        model, percent = canary.model, canary.percent
        title = (
            f"Promote {state.name}/{route.name}: {model} becomes the route's model"
            if final
            else f"Promote {state.name}/{route.name}: canary {model} {percent:g}% → {to:g}%"
        )
        summary = (
            f"**The canary `{model}` of route `{route.name}` "
            + (
                "passed its analysis"
                if canary.percent < 100
                else "has served all of the route's traffic with no policy failing"
            )
            + f" in `{state.name}`** at {percent:g}%, at this step since {started.isoformat()} "
            f"(bake time {format_duration(canary.bake_time)}).",
            "",
            (
                f"Merging makes `{model}` the route's model in place of `{route.spec.model}` and "
                "ends the canary."
                if final
                else f"Merging moves the canary to {to:g}% (steps "
                f"{', '.join(f'{s:g}' for s in canary.steps)})."
            ),
        )
        cooldowns = [
            p.spec.remediation.cooldown.total_seconds()
            for p in state.canary_analyses
            if any(r.policy == p.name for r in analyses)
        ]

        def edit(files: dict[str, str]) -> list[Patch]:
            patch = promote_canary(files, route.name, model, percent, to, final)
            return [patch] if patch else []

        return Request(
            kind=PromotionKind.CANARY_STEP,
            environment=state.name,
            route=route.name,
            key=f"{route.name}/{model}/{percent:g}-{'model' if final else f'{to:g}'}",
            title=title,
            summary=summary,
            evaluations=tuple(analyses),
            edit=edit,
            auto_merge=canary.auto_merge,
            cooldown_seconds=max(cooldowns, default=3600.0),
        )

    # --- environment promotion ---------------------------------------------------------------

    def environments(
        self, state: DesiredState, now: datetime, target_state: Callable[[str], DesiredState]
    ) -> list[PromotionResult]:
        """Each Promotion rule from this environment whose change has been live for `after`
        with its policies passing: a pull request carrying that change to the target's files.
        `target_state` reads the target environment at the branch head (for its forge)."""
        results = []
        for rule in state.promotions:
            request = self._environment(state, rule, now)
            if request is not None:
                results.append(self.propose(target_state(rule.target), request, now))
        return results

    def _environment(self, state: DesiredState, rule: Promotion, now: datetime) -> Request | None:
        applied = [
            a
            for a in self.history.attempts(state.name, limit=200)
            if a.result in (AttemptResult.APPLIED, AttemptResult.IN_SYNC) and a.finished_at
        ]
        if not applied or applied[0].commit_sha != state.commit:
            return None
        sha = state.commit
        since = min(a.finished_at for a in applied if a.commit_sha == sha and a.finished_at)
        previous = next((a.commit_sha for a in applied if a.commit_sha != sha), None)
        if previous is None or now - since < rule.spec.after:
            return None
        chosen = [
            p for p in state.policies() if not rule.spec.policies or p.name in rule.spec.policies
        ]
        evidence: list[Evaluation] = []
        for policy in chosen:
            latest: dict[tuple[str, str], Evaluation] = {}
            for e in self.history.evaluations(policy.name, 500, environment=state.name):
                if e.at >= since:
                    latest.setdefault((e.check, e.route), e)
            if not latest or any(e.outcome is not Outcome.PASS for e in latest.values()):
                return None  # every selected policy passing since the change went live
            evidence += latest.values()
        workspace = Workspace(self.mirror)
        folder = f"environments/{state.name}"
        before, after = workspace.files(previous, folder), workspace.files(sha, folder)
        subject = self.mirror.commit(sha).message

        def edit(files: dict[str, str]) -> list[Patch]:
            carry = carry_promotion(rule, before, after, files)
            if carry.problems:
                raise ControlPlaneError(
                    "the change cannot be carried whole: "
                    + "; ".join(f"{n.resource}: {n.message}" for n in carry.problems)
                )
            described = "; ".join(carry.descriptions) or "carried"
            return [Patch(path, text, described) for path, text in sorted(carry.edits.items())]

        carried = carry_promotion(
            rule, before, after, workspace.files(sha, f"environments/{rule.target}")
        )
        return Request(
            kind=PromotionKind.ENVIRONMENT,
            environment=rule.target,
            route=",".join(rule.spec.routes),
            key=f"{rule.name}/{sha[:12]}",
            title=render_carry_title(carried, subject),
            summary=(
                f"**Promotion `{rule.name}`: `{sha[:12]}` has been live in `{state.name}` since "
                f"{since.isoformat()}** (at least {format_duration(rule.spec.after)}), with "
                "every selected policy passing since.",
                "",
                render_carry_markdown(carried),
            ),
            evaluations=tuple(evidence),
            edit=edit,
            auto_merge=rule.spec.auto_merge,
            source_environment=state.name,
        )

    # --- an experiment's winner ---------------------------------------------------------------

    def ship(self, state: DesiredState, report: ExperimentReport, now: datetime) -> PromotionResult:
        """The pull request that ships an experiment's winner: the route serves the winning
        variant's model alone, and the experiment stops running in this environment."""
        winner = report.winner
        assert winner is not None
        name, route = report.experiment, report.route

        def edit(files: dict[str, str]) -> list[FileEdit | Patch]:
            shipped = ship_winner(files, route, winner)
            retired = retire_experiment(files, name, state.name)
            return [e for e in (shipped, retired) if e is not None] if shipped else []

        request = Request(
            kind=PromotionKind.EXPERIMENT,
            environment=state.name,
            route=route,
            key=f"{name}/{winner}",
            title=f"Ship {state.name}/{route}: variant {winner} won experiment {name}",
            summary=(
                f"**Experiment `{name}` has a winner in `{state.name}`: variant `{winner}`** "
                f"(look {report.look}, {report.minutes} minutes since it started).",
                "",
                *report.reasons,
                "",
                render_experiment_markdown(report),
            ),
            evaluations=(),
            edit=edit,
            folders=(f"environments/{state.name}", "policies"),
        )
        return self.propose(state, request, now)

    # --- any promotion -----------------------------------------------------------------------

    def propose(self, state: DesiredState, request: Request, now: datetime) -> PromotionResult:
        """Open (or, in dry-run, write) the pull request for `request`, or say why not. Never
        raises for a step that fails: that is recorded, and the next tick tries again."""
        env = request.environment
        dry = self.dry_run
        forge_config = state.environment.spec.forge
        if forge_config is None and not dry:
            return self._record(
                request,
                now,
                Decision.FAILED,
                f"environment {state.name} has no forge: set spec.forge to open promotion pull "
                "requests",
                quiet=True,
            )
        try:
            if not dry and forge_config is not None:
                pulls = self._forge(forge_config).open_pull_requests()
                rollbacks = rollback_routes(pulls, env)
                blocking = (  # a change carried in waits for any rollback of the target
                    next(iter(rollbacks.values()), None)
                    if request.kind is PromotionKind.ENVIRONMENT
                    else _blocking(rollbacks, request.route)
                )
                if blocking is not None:
                    return PromotionResult(
                        Decision.BLOCKED,
                        f"rollback pull request #{blocking.number} is open for route "
                        f"{request.route or '(all)'}: {blocking.url}",
                    )
                for pull in pulls:
                    marker = marker_of(pull.body)
                    if marker and (marker.get("environment"), marker.get("key")) == (
                        env,
                        request.key,
                    ):
                        return PromotionResult(
                            Decision.DUPLICATE,
                            f"pull request #{pull.number} already proposes it: {pull.url}",
                            pull=pull,
                        )
            recent = self.history.promotions(
                env, request.kind.value, (Decision.CLOSED, Decision.DRY_RUN), 1, request.key
            )
            if recent and (now - recent[0].at).total_seconds() < request.cooldown_seconds:
                return PromotionResult(
                    Decision.COOLDOWN,
                    f"the same promotion was {recent[0].status.value} at "
                    f"{recent[0].at.isoformat()}, within the cooldown",
                )
            return self._propose(state, request, forge_config, dry, now)
        except ControlPlaneError as exc:
            return self._record(request, now, Decision.FAILED, f"promotion failed: {exc}")

    def _propose(
        self,
        state: DesiredState,
        request: Request,
        forge_config: ForgeConfig | None,
        dry: bool,
        now: datetime,
    ) -> PromotionResult:
        base = self.mirror.fetch()
        workspace = Workspace(self.mirror)
        folders = request.folders or (f"environments/{request.environment}",)
        files = {k: v for folder in folders for k, v in workspace.files(base.sha, folder).items()}
        with workspace.worktree(base.sha) as work:
            patches = request.edit(files)
            for patch in patches:
                if patch.text is None:
                    work.remove(patch.path)
                else:
                    work.write(patch.path, patch.text)
            if not patches or not work.changed():
                return PromotionResult(
                    Decision.ALREADY_REVERTED,
                    f"{base.sha[:12]} no longer holds what {request.key} promotes: nothing to do",
                )
            desired = validated(work.path, request.environment, "promotion")
            proposal = PromotionProposal(
                kind=request.kind,
                environment=request.environment,
                route=request.route,
                key=request.key,
                title=request.title,
                summary=request.summary,
                changes=tuple(p.description for p in patches),
                evaluations=request.evaluations,
                branch=branch_name(request.kind, request.environment, request.key),
                base=forge_config.base_branch if forge_config else self.mirror.branch,
                plan_markdown=plan_markdown(desired, self._targets),
                prometheus_url=_prometheus_url(state),
                labels=promotion_labels(
                    request.environment, tuple(forge_config.labels) if forge_config else ()
                ),
                auto_merge=request.auto_merge,
                source_environment=request.source_environment,
            )
            if work.commit(render_promotion_commit_message(proposal)) is None:
                return PromotionResult(Decision.ALREADY_REVERTED, "nothing to commit")
            if dry or forge_config is None:
                return self._write(request, proposal, now)
            work.push(proposal.branch)
        return self._open(request, proposal, forge_config, now)

    def _write(
        self, request: Request, proposal: PromotionProposal, now: datetime
    ) -> PromotionResult:
        path = write_pull_request(self.out_dir, proposal.branch, render_promotion_file(proposal))
        result = self._record(request, now, Decision.DRY_RUN, str(path), branch=proposal.branch)
        return PromotionResult(result.decision, f"written to {path}", proposal, file=path)

    def _open(
        self,
        request: Request,
        proposal: PromotionProposal,
        forge_config: ForgeConfig,
        now: datetime,
    ) -> PromotionResult:
        forge = self._forge(forge_config)
        title = render_promotion_title(proposal)
        extra = {"environment": proposal.environment, "route": proposal.route}
        pull = open_pull_request(
            forge,
            forge_config,
            proposal.branch,
            proposal.base,
            title,
            render_promotion_body(proposal),
            list(proposal.labels),
            extra,
        )
        self._record(request, now, Decision.OPENED, title, proposal.branch, pull.number, pull.url)
        log.warning("promotion PR opened: %s", pull.url, extra={**extra, "pr": pull.number})
        if proposal.auto_merge:
            try:
                forge.merge_pull_request(pull.number, title)
                log.warning("promotion PR #%d merged (auto-merge)", pull.number, extra=extra)
            except ControlPlaneError as exc:
                log.warning("auto-merge of #%d failed: %s", pull.number, exc, extra=extra)
                forge.comment(pull.number, f"Auto-merge failed: {exc}. Merge it by hand.")
        return PromotionResult(
            Decision.OPENED, f"opened #{pull.number}: {pull.url}", proposal, pull
        )

    def _record(
        self,
        request: Request,
        now: datetime,
        decision: Decision,
        detail: str,
        branch: str = "",
        number: int | None = None,
        url: str = "",
        quiet: bool = False,
    ) -> PromotionResult:
        last = self.history.promotions(request.environment, request.kind.value, (), 1, request.key)
        # a failure that repeats every tick is recorded once
        if not (quiet and last and last[0].status is decision and last[0].detail == detail):
            self.history.record_promotion(
                request.environment,
                request.route,
                request.kind.value,
                request.key,
                now,
                decision,
                detail,
                branch,
                number,
                url,
            )
        if decision is Decision.FAILED:
            log.warning("no promotion PR: %s", detail, extra={"environment": request.environment})
        return PromotionResult(decision, detail)

    # --- keeping the record true -------------------------------------------------------------

    def sweep(self, state: DesiredState, now: datetime) -> list[str]:
        """Mark open promotion pull requests stale while a rollback is open for their route,
        note promotions merged or closed, and release holds whose rollback pull request is
        decided. The routes whose hold was released (the caller reconciles them)."""
        forge_config = state.environment.spec.forge
        holds = self.history.holds(state.name)
        if forge_config is None or self.dry_run:
            return self._release_caught_up(state, holds, now)
        opened = self.history.promotions(state.name, statuses=(Decision.OPENED,), limit=200)
        if not opened and not holds:
            return []  # nothing to keep true: the forge is not asked
        forge = self._forge(forge_config)
        pulls = forge.open_pull_requests()
        rollbacks = rollback_routes(pulls, state.name)
        open_numbers = {p.number for p in pulls}
        for record in opened:
            if record.number is None:
                continue
            if record.number not in open_numbers:
                try:
                    pull = forge.pull_request(record.number)
                except ControlPlaneError as exc:
                    log.warning("cannot read #%d: %s", record.number, exc)
                    continue
                if not pull.open:
                    status = Decision.MERGED if pull.merged else Decision.CLOSED
                    self.history.update_promotion(record.id, status=status)
                continue
            blocking = _blocking(rollbacks, record.route)
            if blocking is None or record.stale_noted:
                continue
            try:
                forge.comment(
                    record.number,
                    f"Stale: rollback pull request #{blocking.number} is open for route "
                    f"`{record.route}` ({blocking.url}). Do not merge this promotion while the "
                    "rollback is under review; controlplane proposes again once the canary "
                    "passes after it is decided.",
                )
                forge.add_labels(record.number, [STALE_LABEL])
            except ControlPlaneError as exc:
                log.warning("cannot mark #%d stale: %s", record.number, exc)
                continue
            self.history.update_promotion(record.id, stale_noted=True)
        released = []
        for hold in holds:
            if hold.number is None:
                continue
            if hold.number in open_numbers:
                continue
            self.history.update_hold(hold.id, released_at=now)
            released.append(hold.route)
            log.warning(
                "hold on %s released: rollback PR #%d is decided",
                hold.route,
                hold.number,
                extra={"environment": state.name},
            )
        return released + self._release_caught_up(
            state, [h for h in holds if h.route not in released], now
        )

    def _release_caught_up(
        self, state: DesiredState, holds: list[Hold], now: datetime
    ) -> list[str]:
        """Holds git has caught up with (the route has no canary, or one at 0%) are released."""
        released = []
        for hold in holds:
            position = state.route_positions.get(hold.route)
            canary = state.routes[position].spec.canary if position is not None else None
            if canary is None or canary.percent == 0:
                self.history.update_hold(hold.id, released_at=now)
                released.append(hold.route)
        return released


def _prometheus_url(state: DesiredState) -> str:
    prometheus = state.environment.spec.prometheus
    return prometheus.url if prometheus else ""
