"""Experiments against a real Prometheus backfilled by promtool: a real quality or latency
difference is reported as a winner and no difference is not, through the CLI (`-o json`), and
through the service's API on the commit live in the environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

import controlplane.service.api as api
from controlplane.history import SqlHistory
from controlplane.history.records import AttemptResult, Trigger
from controlplane.service.reconciler import Reconciler
from tests.support.config import REPO, edit
from tests.support.experiments import Truth, synthesize, write_history
from tests.support.processes import git
from tests.support.prometheus import History, prometheus

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # when the experiments went live
MINUTES = 150  # 10 requests a minute per variant: 1,500 per variant
AT = T0 + timedelta(minutes=MINUTES + 1)
ROUTES = """---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: {name}
spec:
  model: chat-small
  variants:
    - {{name: control, model: chat-small, weight: 50}}
    - {{name: treatment, model: gpt-4o-mini, weight: 50}}
"""
EXPERIMENT = """---
apiVersion: controlplane.dev/v1alpha1
kind: Experiment
metadata:
  name: {name}
spec:
  selector:
    environments: [dev]
  route: {route}
  variants: [control, treatment]
  primary: {primary}
  guardrails:
    - {{metric: {guardrail}, tolerance: 10}}
    - {{metric: error-ratio, tolerance: 1}}
"""
# (experiment, route, primary, guardrail, the treatment's truth)
CASES = (
    ("better-answers", "answers", "judge-score", "ttft", Truth(per_minute=10, judge=0.8)),
    ("faster", "fast", "ttft", "judge-score", Truth(per_minute=10, ttft=0.25)),
    ("same", "same", "judge-score", "ttft", Truth(per_minute=10)),
)


@dataclass(frozen=True)
class Setup:
    config: Path
    url: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    h = History()
    rng = np.random.default_rng(2026)
    for _, route, _, _, treatment in CASES:
        arms = {
            "control": synthesize(Truth(per_minute=10), MINUTES, rng),
            "treatment": synthesize(treatment, MINUTES, rng),
        }
        write_history(h, route, arms, T0)
    with prometheus(tmp_path_factory.mktemp("prometheus"), h) as url:
        config = tmp_path_factory.mktemp("experiments") / "config"
        for folder in ("environments", "policies"):
            shutil.copytree(REPO / folder, config / folder)
        edit(config, "environments/dev/environment.yaml", "http://127.0.0.1:9090", url)
        with (config / "environments/dev/routes.yaml").open("a") as routes:
            routes.writelines(ROUTES.format(name=route) for _, route, *_ in CASES)
        (config / "policies/experiments.yaml").write_text(
            "".join(
                EXPERIMENT.format(name=n, route=r, primary=p, guardrail=g)
                for n, r, p, g, _ in CASES
            )
        )
        yield Setup(config, url)


def report(setup: Setup, name: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane",
            "experiment",
            "report",
            name,
            str(setup.config),
            "--since",
            T0.isoformat(),
            "--at",
            AT.isoformat(),
            *flags,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def json_report(setup: Setup, name: str) -> dict[str, Any]:
    done = report(setup, name, "--environment", "dev", "-o", "json")
    assert done.returncode == 0, done.stderr
    return cast(dict[str, Any], json.loads(done.stdout))


def test_a_better_judged_variant_wins(setup: Setup) -> None:
    found = json_report(setup, "better-answers")
    assert (found["verdict"], found["winner"]) == ("winner", "treatment")
    assert [a["requests"] >= 1000 for a in found["arms"]] == [True, True]
    primary, ttft, errors = found["treatments"][0]["comparisons"]
    assert primary["metric"] == "judge-score"
    assert primary["finding"] == "better"
    assert 6 < primary["effect"] < 14  # points: +0.1 on the 0..1 scale, rounded to tenths
    assert primary["lower"] > 0
    assert ttft["finding"] != "worse"
    assert errors["finding"] != "worse"
    assert found["started"] == "2026-11-03T09:00:00Z"
    assert found["minutes"] == MINUTES
    assert {q["name"] for q in found["queries"]} == {
        "requests",
        "judge-score buckets",
        "judge-score sum",
        "ttft buckets",
        "ttft sum",
        "errors",
    }


def test_a_faster_variant_wins_on_latency(setup: Setup) -> None:
    found = json_report(setup, "faster")
    assert (found["verdict"], found["winner"]) == ("winner", "treatment")
    primary = found["treatments"][0]["comparisons"][0]
    assert primary["metric"] == "ttft"
    assert -35 < primary["effect"] < -20  # percent: 250 ms against 350 ms at the median
    assert primary["upper"] < 0


def test_no_difference_is_not_a_winner(setup: Setup) -> None:
    found = json_report(setup, "same")
    assert found["verdict"] == "continue"
    assert found["winner"] is None
    assert found["treatments"][0]["verdict"] == "continue"
    assert found["treatments"][0]["comparisons"][0]["finding"] == "not-shown"
    assert all(a["requests"] >= 1000 for a in found["arms"])


def test_the_text_report_and_the_only_environment(setup: Setup) -> None:
    done = report(setup, "faster")  # no --environment: dev is the only one it runs in
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Experiment/faster in dev (route fast): WINNER treatment\n")
    assert "ttft buckets: sum by (variant, le)" in done.stdout


class StubReconciler:
    """What the API reads of the reconciler: its environments, history and mirror."""

    def __init__(self, history: SqlHistory, path: Path) -> None:
        self.history = history
        self.mirror = type("Mirror", (), {"path": path, "ready": True})()

    def environments(self) -> list[str]:
        return ["dev"]


def test_the_api_reports_the_live_experiment_since_it_went_live(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(setup.config, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "experiments")
    sha = git(repo, "rev-parse", "HEAD").strip()
    history = SqlHistory(f"sqlite:///{tmp_path / 'history.db'}")
    attempt = history.start("dev", sha, "dev", "experiments", Trigger.WEBHOOK, T0)
    history.finish(attempt, AttemptResult.APPLIED, T0)  # the experiments went live at T0
    monkeypatch.setattr(api, "utc_now", lambda: AT)
    app = api.create_api(
        cast(Reconciler, StubReconciler(history, repo)), "api-token", "webhook-secret"
    )
    client = TestClient(app)
    path = "/api/v1/environments/dev/experiments/better-answers"
    assert client.get(path).status_code == 401
    answer = client.get(path, headers={"Authorization": "Bearer api-token"})
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["verdict"], found["winner"]) == ("winner", "treatment")
    assert found["started"] == "2026-11-03T09:00:00Z"  # recorded in the history at first sight
    missing = client.get(
        "/api/v1/environments/dev/experiments/nope", headers={"Authorization": "Bearer api-token"}
    )
    assert missing.status_code == 404
    assert "no Experiment 'nope'" in missing.json()["detail"]


def test_serve_ships_each_winner_by_one_pull_request(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from controlplane import engine
    from controlplane.engine import Promoter
    from controlplane.prometheus import BatchingSource, PrometheusClient
    from controlplane.repo import GitMirror
    from controlplane.service.metrics import ControllerMetrics
    from controlplane.service.policies import PolicyRunner
    from tests.support.processes import free_port, running

    monkeypatch.setenv("FORGE_TOKEN", "forge-token")
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(work))
    for folder in ("environments", "policies"):
        shutil.copytree(setup.config / folder, work / folder)
    with running(
        ["forge-standin", "--repo", str(origin), "--token", "env:FORGE_TOKEN"],
        free_port(),
        {"FORGE_TOKEN": "forge-token"},
    ) as forge_url:
        edit(
            work,
            "environments/dev/environment.yaml",
            f"    url: {setup.url}\n",
            f"    url: {setup.url}\n  forge:\n    type: github\n    url: {forge_url}\n"
            "    repository: local/config\n    token: env:FORGE_TOKEN\n",
        )
        git(work, "add", ".")
        git(work, "commit", "-qm", "experiments")
        git(work, "push", "-q", "origin", "main")
        history = SqlHistory(f"sqlite:///{tmp_path / 'history.db'}")
        mirror = GitMirror(str(origin), tmp_path / "mirror.git", "main")
        sha = mirror.fetch().sha
        attempt = history.start("dev", sha, "dev", "experiments", Trigger.WEBHOOK, T0)
        history.finish(attempt, AttemptResult.APPLIED, T0)
        state = engine.desired_state(mirror.path, "dev", sha)
        batched = BatchingSource(PrometheusClient(setup.url))
        runner = PolicyRunner(
            cast(Reconciler, None),
            history,
            ControllerMetrics(),
            source=lambda _: batched,
            clock=lambda: AT,
            promoter=Promoter(mirror, history, tmp_path / "out", targets=lambda _: []),
        )
        runner._experiments(state, list(state.experiments))
        runner._experiments(state, list(state.experiments))  # the next look: no second PR
        pulls = httpx.get(
            f"{forge_url}/repos/local/config/pulls",
            headers={"Authorization": "Bearer forge-token"},
            timeout=10,
        ).json()
        assert sorted(p["title"] for p in pulls) == [
            "Ship dev/answers: variant treatment won experiment better-answers",
            "Ship dev/fast: variant treatment won experiment faster",
        ]
        answers = next(p for p in pulls if "better-answers" in p["title"])
        assert "**WINNER** `treatment`" in answers["body"]  # the report is the evidence
        assert "| judge-score | primary |" in answers["body"]
        assert {label["name"] for label in answers["labels"]} == {"promotion", "env:dev"}
        git(work, "fetch", "-q", "origin", answers["head"]["ref"])
        routes = git(work, "show", "FETCH_HEAD:environments/dev/routes.yaml")
        shipped = routes[routes.index("name: answers") :].split("---")[0]
        assert "model: gpt-4o-mini" in shipped
        assert "variants" not in shipped
        experiments = git(work, "show", "FETCH_HEAD:policies/experiments.yaml")
        assert "name: better-answers" not in experiments
        assert "name: same" in experiments


def test_serve_schedules_experiments_at_their_interval(setup: Setup, tmp_path: Path) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from controlplane.service.metrics import ControllerMetrics
    from controlplane.service.policies import PolicyRunner

    repo = tmp_path / "repo"
    shutil.copytree(setup.config, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "experiments")
    sha = git(repo, "rev-parse", "HEAD").strip()
    history = SqlHistory(f"sqlite:///{tmp_path / 'history.db'}")
    attempt = history.start("dev", sha, "dev", "experiments", Trigger.WEBHOOK, T0)
    history.finish(attempt, AttemptResult.APPLIED, T0)
    scheduler = BackgroundScheduler(timezone="UTC")  # not started: jobs are only listed
    runner = PolicyRunner(
        cast(Reconciler, StubReconciler(history, repo)), history, ControllerMetrics(), scheduler
    )
    runner.sync_jobs()
    jobs = {job.id: job.args for job in scheduler.get_jobs()}
    assert jobs["policies:dev:3600"] == ("dev", [n for n, *_ in CASES])  # interval: 1h (default)
