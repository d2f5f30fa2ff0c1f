"""The reconciler service over HTTP: a bare origin, a real gateway, `controlplane serve`."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import TOKEN, free_port, gateway, git
from tests.support.service import API_TOKEN, SECRET, Service, service, wait_for

__all__ = ["service"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration


def test_push_and_signed_webhook_are_applied(service: Service) -> None:
    sha = service.push(
        "environments/dev/routes.yaml",
        "requestsPerMinute: 60",
        "requestsPerMinute: 90",
        "raise the dev rate limit",
    )
    started = time.monotonic()
    assert service.webhook().status_code == 202
    wait_for("the new commit to be live", service.synced_at(sha), timeout=10)
    assert time.monotonic() - started < 5
    assert service.live_route()["spec"]["rateLimits"]["requestsPerMinute"] == 90
    [latest, *_] = service.api("/environments/dev/history")["attempts"]
    assert (latest["commit"], latest["result"], latest["trigger"]) == (sha, "applied", "webhook")
    assert latest["message"] == "raise the dev rate limit"
    assert latest["author"] == "Dev <dev@example.com>"
    assert latest["changes"] == [
        {"action": "update", "kind": "Route", "name": "chat", "target": "gateway"}
    ]
    metrics = httpx.get(f"{service.url}/metrics").text
    assert f'controlplane_applied_commit_info{{commit="{sha}",environment="dev"}} 1.0' in metrics
    assert 'controlplane_webhook_deliveries_total{result="accepted"}' in metrics


def test_unsigned_or_badly_signed_webhooks_are_rejected(service: Service) -> None:
    body = b'{"ref": "refs/heads/main"}'
    assert service.webhook(body, signature="").status_code == 401
    assert service.webhook(body, signature="sha256=" + "0" * 64).status_code == 401
    forged = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
    assert service.webhook(body, signature=forged).status_code == 401
    assert httpx.post(f"{service.url}/webhooks/git", content=body).status_code == 401
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'controlplane_webhook_deliveries_total{result="bad-signature"} 4.0' in metrics


def test_webhook_bodies_are_bounded_and_deliveries_not_replayed(service: Service) -> None:
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-1"}
    url = f"{service.url}/webhooks/git"
    assert httpx.post(url, content=body, headers=headers).json()["status"] == "reconcile requested"
    again = httpx.post(url, content=body, headers=headers)
    assert again.status_code == 202
    assert again.json() == {"status": "ignored", "reason": "delivery d-1 was already received"}
    huge = httpx.post(url, content=b"x" * (6 * 1024 * 1024))  # refused before the signature
    assert huge.status_code == 413
    assert "over 5242880 bytes" in huge.json()["detail"]
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = httpx.post(
        url,
        content=deep,
        headers={
            "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), deep, "sha256").hexdigest()
        },
    )
    assert nested.status_code == 400  # not a 500 from a RecursionError
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'controlplane_webhook_deliveries_total{result="replayed"} 1.0' in metrics


def test_the_body_limit_and_the_replay_window_are_settings(service: Service) -> None:
    service.stop()
    service.env = {
        "CONTROLPLANE_MAX_BODY_BYTES": "2048",
        "CONTROLPLANE_WEBHOOK_REPLAY_SECONDS": "0",
    }
    service.start()
    url = f"{service.url}/webhooks/git"
    assert httpx.post(url, content=b"x" * 3000).status_code == 413
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "X-GitHub-Delivery": "d-2"}
    for _ in range(2):  # no replay window: the same delivery is acted on again
        answer = httpx.post(url, content=body, headers=headers)
        assert answer.json()["status"] == "reconcile requested"


def test_status_command_reads_the_service(service: Service) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane",
            "status",
            "--url",
            service.url,
            "--token",
            "env:TEST_API_TOKEN",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "TEST_API_TOKEN": API_TOKEN},
    )
    assert result.returncode == 0, result.stderr
    live = service.status()["liveCommit"][:12]
    assert result.stdout.split() == ["dev", "synced", "live", live, "head", live]


def test_the_api_needs_its_token(service: Service) -> None:
    assert httpx.get(f"{service.url}/api/v1/environments").status_code == 401
    assert (
        httpx.get(
            f"{service.url}/api/v1/environments", headers={"Authorization": "Bearer nope"}
        ).status_code
        == 401
    )
    assert service.api("/policies") == {"policies": []}  # no shipped policy selects dev
    assert service.api("/policies/chat-slo/results") == {"policy": "chat-slo", "results": []}
    assert httpx.get(f"{service.url}/healthz").status_code == 200
    assert httpx.get(f"{service.url}/readyz").status_code == 200


def test_an_invalid_commit_is_not_applied_and_the_status_says_why(service: Service) -> None:
    before = service.status()["liveCommit"]
    sha = service.push(
        "environments/dev/routes.yaml",
        "requestsPerMinute: 60",
        "requestsPerMinute: -5",
        "break the route",
    )
    assert service.webhook().status_code == 202
    wait_for(
        "the degraded status",
        lambda: service.status()["headCommit"] == sha and service.status()["sync"] == "degraded",
    )
    status = service.status()
    assert status["liveCommit"] == before
    assert "is invalid and was not applied" in status["message"]
    assert "environments/dev/routes.yaml" in status["message"]
    assert "spec.rateLimits.requestsPerMinute" in status["message"]
    assert service.live_route()["spec"]["rateLimits"]["requestsPerMinute"] == 60
    assert service.api("/environments/dev/history")["attempts"][0]["result"] == "invalid"


def test_gateway_down_then_back_converges(service: Service, tmp_path: Path) -> None:
    # Take the gateway away: stop the process that serves its port.
    down = subprocess.run(
        [
            "pkill",
            "-f",
            f"gateway serve --state {service.gateway_state} --port {service.gateway_port}",
        ],
        check=False,
    )
    assert down.returncode == 0
    sha = service.push(
        "environments/dev/routes.yaml",
        "requestsPerMinute: 60",
        "requestsPerMinute: 75",
        "while the gateway is down",
    )
    service.webhook()
    wait_for(
        "the degraded status",
        lambda: service.status()["sync"] == "degraded" and service.status()["headCommit"] == sha,
    )
    plan = httpx.get(
        f"{service.url}/api/v1/environments/dev/plan",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=60,
    )
    assert plan.status_code == 503  # a dependency is down: said as JSON, not a 500
    assert "ConnectError" in plan.json()["detail"]
    with gateway(service.gateway_port, service.gateway_state):
        wait_for("convergence after the gateway is back", service.synced_at(sha))
        assert service.live_route()["spec"]["rateLimits"]["requestsPerMinute"] == 75


def test_drift_is_detected_and_healed_when_self_heal_is_on(service: Service) -> None:
    route = service.live_route()
    route["spec"]["rateLimits"]["requestsPerMinute"] = 5  # a hand edit behind git's back
    httpx.put(
        f"http://127.0.0.1:{service.gateway_port}/admin/v1/resources/Route/chat",
        json=route,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()
    wait_for("drift to be reported", lambda: service.status()["sync"] == "out-of-sync")
    assert "Route/chat" in service.status()["message"]
    assert service.live_route()["spec"]["rateLimits"]["requestsPerMinute"] == 5  # not healed
    assert service.api("/environments/dev/history")["attempts"][0]["result"] == "drift"

    sha = service.push(
        "environments/dev/environment.yaml",
        "selfHeal: false",
        "selfHeal: true",
        "turn self-heal on",
    )
    service.webhook()
    wait_for("the new commit", service.synced_at(sha))
    route["spec"]["rateLimits"]["requestsPerMinute"] = 7
    httpx.put(
        f"http://127.0.0.1:{service.gateway_port}/admin/v1/resources/Route/chat",
        json=route,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()
    wait_for(
        "self-heal", lambda: service.live_route()["spec"]["rateLimits"]["requestsPerMinute"] == 60
    )
    assert service.api("/environments/dev/history")["attempts"][0]["trigger"] == "self-heal"


def test_kill_9_mid_apply_then_restart_converges_with_history_intact(service: Service) -> None:
    guardrails = "".join(
        f"---\napiVersion: controlplane.dev/v1alpha1\nkind: Guardrail\nmetadata: {{name: g{i}}}\n"
        f"spec: {{type: regex, stage: input, action: flag, patterns: ['x{i}']}}\n"
        for i in range(150)
    )
    (service.work / "environments/dev/many.yaml").write_text(guardrails.removeprefix("---\n"))
    git(service.work, "add", ".")
    sha = service.push(
        "environments/dev/routes.yaml",
        "requestsPerMinute: 60",
        "requestsPerMinute: 61",
        "many guardrails",
    )
    before = service.api("/environments/dev/history")["attempts"]
    service.webhook()
    wait_for("the apply to start", lambda: service.status()["reconciling"], timeout=10)
    time.sleep(0.2)
    service.stop(signal.SIGKILL)
    service.start()
    wait_for("convergence after restart", service.synced_at(sha), timeout=60)
    after = service.api("/environments/dev/history?limit=500")["attempts"]
    assert [a["id"] for a in after[-len(before) :]] == [a["id"] for a in before]
    assert after[0]["result"] in ("applied", "in-sync")
    plan = service.api("/environments/dev/plan")["plans"][0]
    assert plan["changes"] == []
    assert json.dumps(after)  # the history is readable as a whole


def test_policies_of_the_live_commit_are_evaluated_on_schedule(service: Service) -> None:
    (service.work / "policies/dev-slo.yaml").write_text(
        "apiVersion: controlplane.dev/v1alpha1\nkind: SLOPolicy\nmetadata: {name: dev-slo}\n"
        "spec:\n  selector: {environments: [dev]}\n  interval: 1s\n  objectives:\n"
        "    - {name: availability, sli: {type: errors}, target: 99}\n"
    )
    git(service.work, "add", ".")
    sha = service.push(
        "environments/dev/environment.yaml",
        "http://127.0.0.1:9090",
        f"http://127.0.0.1:{free_port()}",
        "an SLO for dev, no Prometheus yet",
    )
    service.webhook()
    wait_for("the commit", service.synced_at(sha))

    def evaluated() -> bool:
        policies = service.api("/policies")["policies"]
        return bool(policies and policies[0]["checks"])

    wait_for("a scheduled evaluation", evaluated, timeout=30)
    [policy] = service.api("/policies")["policies"]
    assert (policy["name"], policy["environment"], policy["interval"]) == ("dev-slo", "dev", 1.0)
    [check] = policy["checks"]
    assert (check["check"], check["route"], check["outcome"], check["failing"]) == (
        "objective/availability",
        "chat",
        "inconclusive",
        False,
    )
    assert "metrics unavailable" in check["reason"]
    results = service.api("/policies/dev-slo/results")["results"]
    assert results
    assert {r["outcome"] for r in results} == {"inconclusive"}
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'policy_evaluations_total{policy="dev-slo",result="inconclusive"}' in metrics
