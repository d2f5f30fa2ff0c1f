"""The rollbacker on real git: revert, patch, conflict fallback, validation, dedupe, cooldown and
comments. A bare origin and the service's mirror of it; the forge is the labelled stand-in."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane import engine
from controlplane.engine import Rollbacker, RollbackResult
from controlplane.history import AppliedChange, AttemptResult, SqlHistory, Trigger
from controlplane.plan import ChangeKind
from controlplane.policy import Evaluation, Evidence, Outcome
from controlplane.repo import GitMirror
from controlplane.rollback.decision import Decision
from controlplane.spec import DesiredState
from controlplane.spec.policy import SLOPolicy
from controlplane.validate import validate_config
from tests.support.config import REPO, edit
from tests.support.processes import free_port, git, running
from tests.support.rollback_scenario import add_canary, run

FORGE_TOKEN = "git-test-forge-token"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def policy(strategy: str = "revert", name: str = "chat-latency") -> SLOPolicy:
    return SLOPolicy.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "SLOPolicy",
            "metadata": {"name": name},
            "spec": {
                "selector": {"environments": ["dev"], "routes": ["chat"]},
                "remediation": {"strategy": strategy, "cooldown": "1h"},
                "guards": [
                    {"name": "ttft-p99", "metric": "ttft", "quantile": 0.99, "threshold": "500ms"}
                ],
            },
        }
    )


def failed(at: datetime, name: str = "chat-latency") -> Evaluation:
    return Evaluation(
        policy=name,
        kind="SLOPolicy",
        check="guard/ttft-p99",
        environment="dev",
        route="chat",
        at=at,
        outcome=Outcome.FAIL,
        reason="p99 1225 ms, above 500 ms over 10m",
        evidence=(Evidence(name="ttft p99", query="q", value=1.225, threshold=0.5, window="10m"),),
    )


@dataclass
class Repo:
    tmp: Path
    origin: Path
    work: Path
    history: SqlHistory
    mirror: GitMirror
    forge_url: str = ""
    clock: datetime = T0
    shas: dict[str, str] = field(default_factory=dict)

    def commit(self, name: str, message: str) -> str:
        git(self.work, "add", ".")
        git(self.work, "commit", "-qm", message)
        git(self.work, "push", "-q", "origin", "main")
        self.shas[name] = git(self.work, "rev-parse", "HEAD")
        return self.shas[name]

    def applied(self, sha: str, minutes: float, *changes: tuple[str, str]) -> None:
        """Record an apply of `sha` as the reconciler would."""
        at = T0 + timedelta(minutes=minutes)
        attempt = self.history.start(
            "dev", sha, "Dev <dev@example.com>", "msg", Trigger.WEBHOOK, at
        )
        self.history.finish(
            attempt,
            AttemptResult.APPLIED,
            at + timedelta(seconds=1),
            changes=[AppliedChange(ChangeKind.UPDATE, k, n, "gw") for k, n in changes],
        )

    def state(self) -> DesiredState:
        result = validate_config(engine.load(self.work), ["dev"])
        assert result.ok
        return result.states["dev"]

    def rollbacker(self, dry_run: bool = False) -> Rollbacker:
        return Rollbacker(
            self.mirror, self.history, self.tmp / "out", dry_run, targets=lambda d: []
        )

    def propose(self, minutes: float, dry_run: bool = False, **kwargs: Any) -> RollbackResult:
        chosen = kwargs.pop("policy", policy())
        at = T0 + timedelta(minutes=minutes)
        return self.rollbacker(dry_run).propose(
            self.state(), chosen, failed(at, chosen.name), **kwargs
        )

    def branch_file(self, branch: str, path: str) -> str:
        return git(self.origin, "show", f"{branch}:{path}")

    def pulls(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.forge_url}/repos/local/config/pulls",
            params={"state": "all"},
            headers={"Authorization": f"Bearer {FORGE_TOKEN}"},
        )
        result: list[dict[str, Any]] = response.json()
        return result


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    monkeypatch.setenv("FORGE_TOKEN", FORGE_TOKEN)
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(work))
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, work / folder)
    with running(
        ["forge-standin", "--repo", str(origin), "--token", "env:FORGE_TOKEN"],
        free_port(),
        {"FORGE_TOKEN": FORGE_TOKEN},
    ) as forge_url:
        edit(
            work,
            "environments/dev/environment.yaml",
            "  prune: true",
            f"  forge:\n    type: github\n    url: {forge_url}\n    repository: local/config\n"
            "    token: env:FORGE_TOKEN\n  prune: true",
        )
        mirror = GitMirror(str(origin), tmp_path / "mirror.git", "main")
        r = Repo(
            tmp_path, origin, work, SqlHistory(f"sqlite:///{tmp_path / 'h.db'}"), mirror, forge_url
        )
        r.applied(r.commit("stable", "Stable chat config"), 0, ("Route", "chat"))
        add_canary(
            work, "  canary:   # trying the new one\n    model: chat-canary\n    percent: 20\n"
        )
        r.applied(
            r.commit("canary", "Canary chat-canary at 20%"),
            10,
            ("Model", "chat-canary"),
            ("Route", "chat"),
        )
        yield r


def test_a_revert_is_pushed_as_a_branch_and_opened_once(repo: Repo) -> None:
    result = repo.propose(20)
    assert result.decision is Decision.OPENED, result.message
    branch = f"rollback/dev/chat-latency/{repo.shas['canary'][:12]}"
    stable = repo.shas["stable"]
    for path in ("environments/dev/routes.yaml", "environments/dev/models.yaml"):
        assert repo.branch_file(branch, path) == git(repo.origin, "show", f"{stable}:{path}")
    assert result.proposal is not None
    assert result.proposal.strategy == "revert"
    assert result.proposal.reverts == (repo.shas["canary"],)
    # the same failure again and again (no cooldown when asked by hand): still one PR
    repeats = [repo.propose(21 + i, manual=True).decision for i in range(5)]
    assert repeats == [Decision.DUPLICATE] * 5
    # another policy blaming the same commit: an open PR already reverts it
    other = repo.propose(22, manual=True, policy=policy(name="chat-errors"))
    assert other.decision is Decision.DUPLICATE
    assert "already reverts" in other.message
    assert len(repo.pulls()) == 1
    # and the scheduler's next failure is held by the cooldown, recorded once only
    assert repo.propose(30).decision is Decision.COOLDOWN
    statuses = [r.status for r in repo.history.rollbacks("dev", "chat-latency")]
    assert statuses == ["opened"]


def test_a_conflicting_revert_falls_back_to_a_patch_that_keeps_comments(repo: Repo) -> None:
    edit(
        repo.work, "environments/dev/routes.yaml", "    percent: 20\n", "    percent: 30   # more\n"
    )
    repo.applied(repo.commit("raise", "Raise the canary to 30%"), 30, ("Route", "chat"))
    # the breach began at minute 20, before the raise: the canary commit is to blame
    result = repo.propose(20.5)
    assert result.decision is Decision.OPENED, result.message
    assert result.proposal is not None
    assert result.proposal.strategy == "patch"
    assert "revert conflicted (environments/dev/routes.yaml)" in result.proposal.strategy_note
    routes = repo.branch_file(result.proposal.branch, "environments/dev/routes.yaml")
    assert (
        "  canary:   # trying the new one\n    model: chat-canary\n    percent: 0    # more\n"
        in (routes + "\n")
    )


def test_the_patch_strategy_edits_the_canary_to_zero(repo: Repo) -> None:
    result = repo.propose(20, dry_run=True, policy=policy("patch"))
    assert result.decision is Decision.DRY_RUN, result.message
    assert result.file is not None
    text = result.file.read_text()
    assert "**patch**, set the canary percent of route chat (model chat-canary) to 0" in text
    assert "rollback/" not in git(repo.origin, "branch", "--list", "rollback/*")
    # a dry run counts for the scheduler: the next one is held by the cooldown
    assert repo.propose(21, dry_run=True, policy=policy("patch")).decision is Decision.COOLDOWN


def test_a_rollback_that_would_not_validate_is_not_pushed(repo: Repo) -> None:
    (repo.work / "environments/dev/more-routes.yaml").write_text(
        "apiVersion: controlplane.dev/v1alpha1\nkind: Route\nmetadata:\n  name: labs\n"
        "spec:\n  model: chat-canary\n"
    )
    repo.applied(repo.commit("labs", "A labs route on the canary model"), 30, ("Route", "labs"))
    result = repo.propose(20)
    assert result.decision is Decision.FAILED
    assert "does not validate, so it was not pushed" in result.message
    assert "chat-canary" in result.message
    assert git(repo.origin, "branch", "--list", "rollback/*") == ""
    assert repo.pulls() == []
    assert repo.history.rollbacks("dev")[0].status == "failed"


def test_every_commit_of_one_apply_is_reverted_and_a_merge_commit_by_its_mainline(
    repo: Repo,
) -> None:
    git(repo.work, "checkout", "-qb", "topic")
    edit(repo.work, "environments/dev/routes.yaml", "percent: 20", "percent: 40")
    git(repo.work, "commit", "-qam", "Canary to 40%")
    edit(
        repo.work, "environments/dev/routes.yaml", "requestsPerMinute: 60", "requestsPerMinute: 90"
    )
    git(repo.work, "commit", "-qam", "More RPM")
    git(repo.work, "checkout", "-q", "main")
    git(repo.work, "merge", "-q", "--no-ff", "topic", "-m", "Merge pull request #9 from topic")
    git(repo.work, "push", "-q", "origin", "main")
    repo.shas["merge"] = git(repo.work, "rev-parse", "HEAD")
    repo.applied(repo.shas["merge"], 30, ("Route", "chat"))
    result = repo.propose(31)
    assert result.decision is Decision.OPENED, result.message
    assert result.proposal is not None
    assert result.proposal.reverts == (repo.shas["merge"],)
    routes = repo.branch_file(result.proposal.branch, "environments/dev/routes.yaml")
    canary = git(repo.origin, "show", f"{repo.shas['canary']}:environments/dev/routes.yaml")
    assert routes == canary  # both commits of the merged topic are taken back


def test_an_already_reverted_commit_opens_nothing(repo: Repo) -> None:
    git(repo.work, "revert", "--no-edit", repo.shas["canary"])
    git(repo.work, "push", "-q", "origin", "main")
    result = repo.propose(20, manual=True)
    assert result.decision is Decision.ALREADY_REVERTED
    assert repo.pulls() == []


def test_no_attributable_change_and_no_forge_are_recorded_not_raised(repo: Repo) -> None:
    result = repo.propose(-5)  # before any apply
    assert result.decision is Decision.NO_ATTRIBUTION
    assert "no attributable change" in result.message
    edit(repo.work, "environments/dev/environment.yaml", "  forge:\n", "  oldforge:\n")
    text = (repo.work / "environments/dev/environment.yaml").read_text()
    start = text.index("  oldforge:\n")
    end = text.index("  prune:")
    (repo.work / "environments/dev/environment.yaml").write_text(text[:start] + text[end:])
    result = repo.propose(20, manual=True)
    assert result.decision is Decision.FAILED
    assert "has no forge" in result.message
    assert repo.propose(20, policy=policy("none")).decision is Decision.DISABLED
    assert [r.status for r in repo.history.rollbacks("dev")] == ["failed", "no-attributable-change"]


def test_a_policy_passing_again_comments_once_and_closes_nothing(repo: Repo) -> None:
    assert repo.propose(20).decision is Decision.OPENED
    rollbacker = repo.rollbacker()
    passed = failed(T0 + timedelta(minutes=40)).model_copy(
        update={"outcome": Outcome.PASS, "reason": "p99 120 ms, within 500 ms"}
    )
    assert rollbacker.passing(repo.state(), "chat-latency", passed) == 1
    assert rollbacker.passing(repo.state(), "chat-latency", passed) == 0  # once
    rollbacker.failing_again("dev", "chat-latency")
    assert rollbacker.passing(repo.state(), "chat-latency", passed) == 1  # again after a failure
    comments = httpx.get(
        f"{repo.forge_url}/repos/local/config/issues/1/comments",
        headers={"Authorization": f"Bearer {FORGE_TOKEN}"},
    ).json()
    assert len(comments) == 2
    assert "passes again" in comments[0]["body"]
    assert "p99 120 ms" in comments[0]["body"]
    assert repo.pulls()[0]["state"] == "open"  # closes nothing


def test_the_rollback_command_explains_bad_input_and_quiet_policies(repo: Repo) -> None:
    common = ["--env", "dev", "--repo", str(repo.origin), "--workdir", str(repo.tmp)]
    common += ["--database-url", f"sqlite:///{repo.tmp / 'h.db'}"]
    unknown = run("rollback", "--policy", "nope", *common)
    assert unknown.returncode == 2
    assert "no policy 'nope' selects environment 'dev' (found: " in unknown.stderr
    assert "Traceback" not in unknown.stderr
    (repo.work / "policies/chat-latency.yaml").write_text(
        "apiVersion: controlplane.dev/v1alpha1\nkind: SLOPolicy\nmetadata: {name: chat-latency}\n"
        "spec:\n  selector: {environments: [dev]}\n  guards:\n"
        "    - {name: p99, metric: ttft, quantile: 0.99, threshold: 500ms}\n"
    )
    repo.applied(repo.commit("policy", "Watch chat latency"), 30)
    quiet = run("rollback", "--policy", "chat-latency", *common)  # Prometheus is not running
    assert quiet.returncode == 0, quiet.stderr
    assert "INCONCLUSIVE" in quiet.stdout
    assert "nothing fails in dev" in quiet.stdout
    bad_commit = run("rollback", "--policy", "chat-latency", "--commit", "f" * 40, *common)
    assert bad_commit.returncode == 2
    assert f"--commit {'f' * 40}: no such commit" in bad_commit.stderr


def test_an_unreachable_forge_is_a_recorded_failure_and_the_next_try_opens_it(
    repo: Repo,
) -> None:
    environment = repo.work / "environments/dev/environment.yaml"
    working = environment.read_text()
    environment.write_text(working.replace(repo.forge_url, f"http://127.0.0.1:{free_port()}"))
    result = repo.propose(20)
    assert result.decision is Decision.FAILED
    assert "github: GET /repos/local/config/pulls: ConnectError" in result.message
    environment.write_text(working)
    assert repo.propose(21).decision is Decision.OPENED  # a failure starts no cooldown
    assert [r.status for r in repo.history.rollbacks("dev")] == ["opened", "failed"]
