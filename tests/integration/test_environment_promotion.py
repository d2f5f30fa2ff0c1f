"""Environment promotion: a change live in staging for the rule's `after`, with its policies
passing, becomes a pull request applying it to prod's files. Real git origin and forge stand-in
(labelled: not GitHub); the applies and evaluations are written to the history as `serve` would.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from controlplane import engine
from controlplane.engine import Promoter
from controlplane.history import AttemptResult, SqlHistory, Trigger
from controlplane.policy import Evaluation, Outcome
from controlplane.repo import GitMirror
from controlplane.rollback.decision import Decision
from tests.support.config import REPO, edit
from tests.support.processes import free_port, git, running

pytestmark = pytest.mark.integration
TOKEN = "forge-token"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("auto_merge", [False, True], ids=["review", "auto-merge"])
def test_a_change_live_in_staging_with_policies_passing_opens_one_pr_for_prod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auto_merge: bool
) -> None:
    monkeypatch.setenv("FORGE_TOKEN", TOKEN)
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(work))
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, work / folder)
    with running(
        ["forge-standin", "--repo", str(origin), "--token", "env:FORGE_TOKEN"],
        free_port(),
        {"FORGE_TOKEN": TOKEN},
    ) as forge_url:
        for env in ("staging", "prod"):
            file = f"environments/{env}/environment.yaml"
            edit(work, file, "url: https://api.github.com", f"url: {forge_url}")
            edit(work, file, "example-org/llm-platform-config", "local/config")
            edit(work, file, "env:GITHUB_TOKEN", "env:FORGE_TOKEN")
        if auto_merge:
            edit(
                work, "policies/promote-staging-to-prod.yaml", "autoMerge: false", "autoMerge: true"
            )
        git(work, "add", ".")
        git(work, "commit", "-qm", "initial config")
        before = git(work, "rev-parse", "HEAD")
        edit(work, "environments/staging/models.yaml", "chat-lora-v2", "chat-lora-v3", count=2)
        git(work, "commit", "-qam", "chat-v2: LoRA v3 in staging")
        sha = git(work, "rev-parse", "HEAD")
        git(work, "push", "-q", "origin", "main")

        history = SqlHistory(f"sqlite:///{tmp_path / 'h.db'}")
        for commit, at in ((before, T0), (sha, T0 + timedelta(hours=1))):
            attempt = history.start("staging", commit, "dev", "m", Trigger.WEBHOOK, at)
            history.finish(attempt, AttemptResult.APPLIED, at)
        mirror = GitMirror(str(origin), tmp_path / "mirror.git", "main")
        mirror.fetch()
        state = engine.desired_state(mirror.path, "staging", sha)
        [rule] = state.promotions
        live = T0 + timedelta(hours=1)

        def passing(at: datetime, outcome: Outcome = Outcome.PASS) -> None:
            history.record_evaluations(
                [
                    Evaluation(
                        policy=p.name,
                        kind=p.KIND,
                        check="check",
                        environment="staging",
                        route="chat",
                        at=at,
                        outcome=outcome,
                        reason=f"{p.name} passes",
                    )
                    for p in state.policies()
                ]
            )

        promoter = Promoter(mirror, history, tmp_path / "out", targets=lambda _: [])

        def tick(at: datetime) -> list[Decision]:
            head = mirror.fetch().sha
            found = promoter.environments(
                state, at, lambda target: engine.desired_state(mirror.path, target, head)
            )
            return [r.decision for r in found]

        passing(live + timedelta(minutes=5))
        assert tick(live + timedelta(minutes=30)) == []  # not live for an hour yet
        passing(live + timedelta(minutes=61), Outcome.INCONCLUSIVE)
        assert tick(live + timedelta(minutes=62)) == []  # not every policy passing
        # A rule that names its policies waits for those alone.
        first = state.policies()[0].name
        named = replace(
            state,
            promotions=(
                rule.model_copy(
                    update={
                        "metadata": rule.metadata.model_copy(update={"name": "named"}),
                        "spec": rule.spec.model_copy(update={"policies": [first]}),
                    }
                ),
            ),
        )
        history.record_evaluations(
            [
                Evaluation(
                    policy=first,
                    kind=state.policies()[0].KIND,
                    check="check",
                    environment="staging",
                    route="chat",
                    at=live + timedelta(minutes=62),
                    outcome=Outcome.PASS,
                    reason="passes",
                )
            ]
        )
        dry = Promoter(mirror, history, tmp_path / "dry", dry_run=True, targets=lambda _: [])
        [written] = dry.environments(
            named, live + timedelta(minutes=62), lambda t: engine.desired_state(mirror.path, t, sha)
        )
        assert written.decision is Decision.DRY_RUN, written.message
        assert tick(live + timedelta(minutes=62)) == []  # the rule naming none: all of them
        passing(live + timedelta(minutes=63))
        # A rollback under review in prod holds every change back from it.
        git(work, "push", "-q", "origin", "HEAD:refs/heads/rollback/prod/slo/abc")
        forge = {"Authorization": f"Bearer {TOKEN}"}
        marker = '<!-- controlplane:rollback {"environment": "prod", "route": "chat"} -->'
        rollback = httpx.post(
            f"{forge_url}/repos/local/config/pulls",
            headers=forge,
            json={
                "title": "Rollback",
                "head": "rollback/prod/slo/abc",
                "base": "main",
                "body": marker,
            },
            timeout=10,
        ).json()
        assert tick(live + timedelta(minutes=64)) == [Decision.BLOCKED]
        httpx.patch(
            f"{forge_url}/repos/local/config/pulls/{rollback['number']}",
            headers=forge,
            json={"state": "closed"},
            timeout=10,
        ).raise_for_status()
        assert tick(live + timedelta(minutes=64)) == [Decision.OPENED]
        pulls = httpx.get(
            f"{forge_url}/repos/local/config/pulls",
            headers={"Authorization": f"Bearer {TOKEN}"},
            params={"state": "all"},
            timeout=10,
        ).json()
        [pull] = [p for p in pulls if p["number"] != rollback["number"]]
        assert (pull["merged_at"] is not None) is auto_merge
        if not auto_merge:
            assert tick(live + timedelta(minutes=65)) == [Decision.DUPLICATE]
        assert pull["title"] == "Promote staging → prod: chat-v2: LoRA v3 in staging"
        assert {label["name"] for label in pull["labels"]} == {"promotion", "env:prod"}
        body = pull["body"]
        assert f"`{sha[:12]}` has been live in `staging`" in body
        assert "### Evidence in `staging`" in body
        assert "chat-slo passes" in body
        git(work, "fetch", "-q", "origin", pull["head"]["ref"])
        prod = git(work, "show", "FETCH_HEAD:environments/prod/models.yaml")
        assert prod.count("chat-lora-v3") == 2
        assert "serving.svc" in prod or "serving-staging" not in prod  # prod keeps its endpoints
        assert rule.name in body
