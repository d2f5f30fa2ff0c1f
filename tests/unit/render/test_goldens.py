"""What users read, pinned: the plan in text, Markdown and JSON, the validation report in text,
JSON and GitHub annotations, evaluations, an apply, and a rollback pull request.

`pytest --update-goldens` rewrites the files under golden/; review them in the diff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.plan import ApplyResult, ChangeResult, Outcome, compute_plan, simulate
from controlplane.policy import Evaluation, Evidence
from controlplane.policy import Outcome as Verdict
from controlplane.render import (
    render_apply,
    render_body,
    render_commit_message,
    render_evaluations,
    render_plan_json,
    render_plan_markdown,
    render_plan_text,
    render_pull_request_file,
    render_status,
    render_validation_github,
    render_validation_json,
    render_validation_text,
)
from controlplane.rollback.proposal import BreachStart, Proposal, branch_name, proposal_labels
from controlplane.spec import DesiredState, LiveState
from tests.support.config import edit, validate
from tests.support.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


Golden = Callable[[str, str], None]


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    def check(name: str, text: str) -> None:
        assert_golden(request, GOLDEN / name, text)

    return check


def prod(config: Path) -> DesiredState:
    return validate(config, ["prod"]).states["prod"]


def test_plans(config: Path, golden: Golden) -> None:
    before = prod(config)
    live = simulate(compute_plan(before, LiveState(resources=())), LiveState(resources=()))
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 25")
    after = prod(config)
    # chat-small leaves the config (prune is on, so it is deleted) and the route stops naming it
    after = replace(
        after,
        models=tuple(m for m in after.models if m.name != "chat-small"),
        routes=tuple(
            r.model_copy(
                update={"spec": r.spec.model_copy(update={"cascade": None, "fallbacks": []})}
            )
            for r in after.routes
        ),
    )
    create = compute_plan(before, LiveState(resources=()))
    update = compute_plan(after, live)
    check = golden
    check("plan-create.txt", render_plan_text(create))
    check("plan-create.md", render_plan_markdown(create))
    check("plan-create.json", render_plan_json(create))
    check("plan-update.txt", render_plan_text(update))
    check("plan-update.md", render_plan_markdown(update))
    check("plan-update.json", render_plan_json(update))
    check("plan-empty.txt", render_plan_text(compute_plan(before, live)))
    check(
        "apply.txt",
        render_apply(
            ApplyResult(
                "gateway",
                (
                    ChangeResult(update.changes[0], Outcome.APPLIED),
                    ChangeResult(update.changes[1], Outcome.FAILED, "HTTP 503 from PUT"),
                    *(ChangeResult(c, Outcome.NOT_ATTEMPTED) for c in update.changes[2:]),
                ),
            )
        ),
    )


def test_validation_reports(config: Path, golden: Golden) -> None:
    edit(config, "environments/prod/routes.yaml", "percent: 10", "percent: 140")
    edit(config, "environments/prod/models.yaml", "tensorParallel: 4", "tensorParallel: 1")
    edit(config, "environments/dev/routes.yaml", "model: chat-small", "model: chat-large")
    edit(
        config,
        "environments/dev/models.yaml",
        "apiKey: env:OPENAI_API_KEY",
        "apiKey: sk-proj-" + "Ab12" * 10,
    )
    result = validate(config)
    environments = ["dev", "prod", "staging"]
    golden("validation.txt", render_validation_text(result, environments))
    golden("validation.json", render_validation_json(result, environments))
    golden("validation-github.txt", render_validation_github(result, environments))
    golden("validation-ok.txt", render_validation_text(validate(config, ["staging"]), ["staging"]))


def evaluation() -> Evaluation:
    return Evaluation(
        policy="chat-latency",
        kind="SLOPolicy",
        check="guard/ttft-p99",
        environment="prod",
        route="chat",
        at=T0,
        outcome=Verdict.FAIL,
        reason="p99 1225 ms, above 500 ms over 10m",
        evidence=(
            Evidence(
                name="ttft p99",
                query='histogram_quantile(0.99, sum by (le) (rate(x{route="chat"}[10m])))',
                value=1.225,
                threshold=0.5,
                window="10m",
                samples=4120,
                note="canary | baseline",
                signal='histogram_quantile(0.99, sum by (le) (rate(x{route="chat"}[1m])))',
            ),
        ),
    )


def test_evaluations_and_status(golden: Golden) -> None:
    passed = evaluation().model_copy(
        update={"outcome": Verdict.PASS, "reason": "p99 180 ms", "check": "guard/ttft-p50"}
    )
    golden("evaluations.txt", render_evaluations([evaluation(), passed]))
    golden(
        "status.txt",
        render_status(
            [
                {"name": "prod", "sync": "synced", "liveCommit": "a" * 40, "headCommit": "a" * 40},
                {
                    "name": "staging",
                    "sync": "degraded",
                    "liveCommit": None,
                    "headCommit": "b" * 40,
                    "message": "commit bbbbbbbbbbbb is invalid\nmore",
                },
            ]
        ),
    )


def test_rollback_pull_request(golden: Golden) -> None:
    sha = "c0ffee" + "0" * 34
    proposal = Proposal(
        environment="prod",
        policy="chat-latency",
        policy_kind="SLOPolicy",
        evaluation=evaluation(),
        breach=BreachStart(at=T0.replace(minute=0), how="range query of ttft p99"),
        blame_sha=sha,
        blame_author="Dev <dev@example.com>",
        blame_message="Canary chat-v2 at 25%\n\nMore traffic for the canary.",
        blame_applied_at=T0.replace(minute=0, second=0),
        reverts=(sha,),
        strategy="revert",
        strategy_note="git revert of 1 commit(s)",
        branch=branch_name("prod", "chat-latency", sha),
        base="main",
        plan_markdown="### controlplane plan: `prod`\n\n**Plan: 0 to create, 1 to update.**\n",
        prometheus_url="http://prometheus.example:9090",
        labels=proposal_labels("prod", ("sev2",)),
    )
    golden("pull-request-body.md", render_body(proposal))
    golden("pull-request-file.md", render_pull_request_file(proposal))
    golden("commit-message.txt", render_commit_message(proposal))


def test_promotion_pull_request(golden: Golden) -> None:
    from controlplane.promotion import proposal as promotion
    from controlplane.render.promotion import (
        render_promotion_body,
        render_promotion_commit_message,
        render_promotion_file,
    )

    passed = evaluation().model_copy(
        update={"outcome": Verdict.PASS, "reason": "ttft: the canary is within +10% (p=0.002)"}
    )
    key = "chat/chat-v2/10-50"
    proposal = promotion.PromotionProposal(
        kind=promotion.PromotionKind.CANARY_STEP,
        environment="prod",
        route="chat",
        key=key,
        title="Promote prod/chat: canary chat-v2 10% → 50%",
        summary=("**The canary `chat-v2` passed.**", "", "Merging moves the canary to 50%."),
        changes=("move the canary chat-v2 of route chat from 10% to 50%",),
        evaluations=(passed,),
        branch=promotion.branch_name(promotion.PromotionKind.CANARY_STEP, "prod", key),
        base="main",
        plan_markdown="### controlplane plan: `prod`\n\n**Plan: 0 to create, 1 to update.**\n",
        prometheus_url="http://prometheus.example:9090",
        labels=promotion.promotion_labels("prod"),
    )
    golden("promotion-body.md", render_promotion_body(proposal))
    golden("promotion-file.md", render_promotion_file(proposal))
    golden("promotion-commit-message.txt", render_promotion_commit_message(proposal))
    assert promotion.marker_of(render_promotion_body(proposal)) == {
        "kind": "canary-step",
        "environment": "prod",
        "route": "chat",
        "key": key,
    }
