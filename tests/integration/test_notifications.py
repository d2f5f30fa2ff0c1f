"""Notifications to real receivers on loopback: Slack-shaped and signed webhook posts arrive once
however often an event is notified, the signature verifies, a failing receiver is retried and
the delivery recorded as failed without raising, and no credential reaches a log line or the
history. Then the reconciler's failed applies and drift, through the Notifier and `serve`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from controlplane.engine.notifications import Event, Notifier
from controlplane.errors import TargetUnavailable
from controlplane.history import NotificationStatus, SqlHistory, Trigger
from controlplane.notify import verify_signature
from controlplane.plan import Change
from controlplane.repo import GitMirror
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.reconciler import Reconciler
from controlplane.spec import LIVE_KINDS, DesiredState, Environment, LiveState, Managed
from controlplane.spec.notification import NotificationEvent
from controlplane.targets import Capabilities
from tests.support.config import REPO, edit
from tests.support.processes import TOKEN, git
from tests.support.receiver import Received, Receiver, receiver
from tests.support.service import SECRET, Service, service, wait_for

__all__ = ["service"]  # the fixture, imported for pytest

SLACK_TOKEN = "T0AAAA/B0BBBB/s3cretSlackPathPart0123"  # the part of a Slack URL that is secret
HOOK_KEY = "hook-signing-key-0123456789"


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


@pytest.fixture
def history(tmp_path: Path) -> SqlHistory:
    return SqlHistory(f"sqlite:///{tmp_path / 'history.db'}")


def environment(*channels: dict[str, object]) -> Environment:
    return Environment.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": "prod"},
            "spec": {
                "targets": [{"type": "gateway", "url": "http://127.0.0.1:4000"}],
                "notifications": list(channels),
            },
        }
    )


def channels(rx: Receiver, monkeypatch: pytest.MonkeyPatch) -> Environment:
    monkeypatch.setenv("TEST_SLACK_URL", f"{rx.url}/services/{SLACK_TOKEN}")
    monkeypatch.setenv("TEST_HOOK_KEY", HOOK_KEY)
    return environment(
        {"type": "slack", "name": "ops", "url": "env:TEST_SLACK_URL"},
        {
            "type": "webhook",
            "name": "audit",
            "url": f"{rx.url}/hook",
            "secret": "env:TEST_HOOK_KEY",
        },
    )


def drift(key: str = "drift/prod/0123/abcd") -> Event:
    return Event(
        NotificationEvent.DRIFT,
        "prod",
        "live differs from applied commit 0123456789ab",
        "Changed outside git (self-heal is off); a sync would update Route/chat on gateway.",
        key,
        datetime.now(UTC),
    )


def independently_verified(request: Received, key: str) -> bool:
    """The signature, checked without controlplane's code: HMAC-SHA256 over timestamp.body."""
    timestamp = request.headers["X-Controlplane-Timestamp"]
    material = timestamp.encode() + b"." + request.body
    expected = "sha256=" + hmac.new(key.encode(), material, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["X-Controlplane-Signature"], expected) and (
        abs(time.time() - int(timestamp)) < 60
    )


def leaks(history: SqlHistory, logs: str, secrets: Sequence[str]) -> list[str]:
    rows = json.dumps([n.to_dict() for n in history.notifications(limit=500)])
    return [s for s in secrets if s in rows or s in logs]


def test_each_event_reaches_slack_and_the_webhook_exactly_once(
    rx: Receiver,
    history: SqlHistory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = channels(rx, monkeypatch)
    notifier = Notifier(history)
    event = drift()
    callers = [threading.Thread(target=notifier.notify, args=(env, event)) for _ in range(4)]
    for caller in callers:  # four at once, as the reconciler and the policy runner might
        caller.start()
    for caller in callers:
        caller.join()
    notifier.notify(env, event)
    assert notifier.flush(10)

    hook, slack = sorted(rx.requests, key=lambda r: r.path)
    assert len(rx.requests) == 2
    assert slack.path == f"/services/{SLACK_TOKEN}"
    assert slack.json() == {
        "text": "*[prod] drift: live differs from applied commit 0123456789ab*\n"
        "Changed outside git (self-heal is off); a sync would update Route/chat on gateway."
    }
    assert hook.path == "/hook"
    assert independently_verified(hook, HOOK_KEY)
    assert verify_signature(
        HOOK_KEY,
        hook.body,
        hook.headers["X-Controlplane-Signature"],
        hook.headers["X-Controlplane-Timestamp"],
        time.time(),
    )
    assert not independently_verified(hook, "another-key")
    assert hook.headers["X-Controlplane-Event"] == "drift"
    assert hook.json()["id"] == hook.headers["X-Controlplane-Delivery"]
    assert hook.json()["dedupeKey"] == event.dedupe_key

    found = history.notifications("prod")
    for channel in ("ops", "audit"):
        mine = [n.status for n in found if n.channel == channel]
        assert sorted(mine) == sorted(
            [NotificationStatus.SENT] + 4 * [NotificationStatus.DEDUPLICATED]
        )
    assert leaks(history, caplog.text, [SLACK_TOKEN, "s3cretSlackPathPart0123", HOOK_KEY]) == []


def test_a_failing_receiver_is_retried_then_recorded_failed_and_nothing_raises(
    rx: Receiver,
    history: SqlHistory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    env = channels(rx, monkeypatch)
    notifier = Notifier(history)
    rx.statuses = [500, 500, 500, 400]  # slack is retried to the end; the webhook is refused
    only_slack = environment(env.spec.notifications[0].model_dump(by_alias=True))
    notifier.notify(only_slack, drift())
    assert notifier.flush(15)
    assert len(rx.requests) == 3  # three tries, then given up
    [failed] = history.notifications("prod")
    assert (failed.status, failed.attempts) == (NotificationStatus.FAILED, 3)
    assert failed.error == "slack channel 'ops': HTTP 500: no_service (after 3 of 3 tries)"
    assert "notification not delivered: slack channel 'ops': HTTP 500" in caplog.text

    webhook_only = environment(env.spec.notifications[1].model_dump(by_alias=True))
    notifier.notify(webhook_only, drift())
    assert notifier.flush(15)
    assert len(rx.requests) == 4  # a 4xx is final: no retry mends it
    [refused, _] = history.notifications("prod")
    assert (refused.status, refused.attempts) == (NotificationStatus.FAILED, 1)
    assert refused.error.startswith("webhook channel 'audit': HTTP 400")

    notifier.notify(only_slack, drift())  # a failure does not deduplicate: tried again, now sent
    assert notifier.flush(15)
    assert len(rx.requests) == 5
    assert history.notifications("prod", limit=1)[0].status is NotificationStatus.SENT
    assert leaks(history, caplog.text, [SLACK_TOKEN, "s3cretSlackPathPart0123", HOOK_KEY]) == []


def test_a_slack_url_for_a_host_the_operator_did_not_bind_is_neither_sent_nor_shown(
    history: SqlHistory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_SLACK_URL", f"https://hooks.slack.example/services/{SLACK_TOKEN}")
    notifier = Notifier(history)
    notifier.notify(environment({"type": "slack", "url": "env:TEST_SLACK_URL"}), drift())
    assert notifier.flush(10)
    [failed] = history.notifications("prod")
    assert failed.status is NotificationStatus.FAILED
    assert "env:TEST_SLACK_URL may not be sent to 'hooks.slack.example'" in failed.error
    assert "CONTROLPLANE_CREDENTIAL_HOSTS" in failed.error
    assert leaks(history, caplog.text, ["s3cretSlackPathPart0123"]) == []


class Refusing:
    """A labelled stand-in target that holds nothing and refuses every change."""

    name = "refusing"
    capabilities = Capabilities(kinds=tuple(k.KIND for k in LIVE_KINDS), conditional_writes=False)

    def read(self) -> LiveState:
        return LiveState(resources=())

    def wanted(self, desired: DesiredState, live: LiveState) -> Sequence[Managed] | None:
        return None

    def apply(self, change: Change) -> None:
        raise TargetUnavailable(f"refusing: {change.kind}/{change.name} was not accepted")

    def apply_all(self, changes: Sequence[Change]) -> None:
        raise TargetUnavailable("refusing: nothing was accepted")


def pushed_config(rx: Receiver, tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin and its clone holding the shipped config, dev notifying failed syncs to
    the receiver's webhook: (origin, work)."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(work))
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, work / folder)
    edit(
        work,
        "environments/dev/environment.yaml",
        "selfHeal: true",
        f'selfHeal: true\n  notifications: [{{type: webhook, url: "{rx.url}/hook", '
        'secret: "env:TEST_WEBHOOK_SECRET", events: [sync-failed]}]',
    )
    git(work, "add", ".")
    git(work, "commit", "-qm", "dev, with a webhook for failed syncs")
    git(work, "push", "-q", "origin", "main")
    return origin, work


def test_a_failed_apply_is_notified_once_however_many_passes_fail(
    rx: Receiver, history: SqlHistory, tmp_path: Path
) -> None:
    origin, work = pushed_config(rx, tmp_path)
    sha = git(work, "rev-parse", "HEAD")
    reconciler = Reconciler(
        GitMirror(str(origin), tmp_path / "mirror.git", "main"),
        history,
        ControllerMetrics(),
        ["dev"],
        attempts=2,
        sleep=lambda _: None,
        targets=lambda _: [Refusing()],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_WEBHOOK_SECRET", SECRET)
        for _ in range(3):  # three polls, each failing to apply the same commit
            reconciler.reconcile("dev", Trigger.POLL)
        assert reconciler.notifier.flush(10)
    reconciler.shutdown()

    assert [a.result.value for a in history.attempts("dev")] == ["failed"] * 3
    [post] = rx.requests
    assert independently_verified(post, SECRET)
    body = post.json()
    assert (body["event"], body["environment"]) == ("sync-failed", "dev")
    assert body["title"] == f"commit {sha[:12]} could not be applied"
    assert "refusing: " in body["text"]
    assert "was not accepted" in body["text"]
    assert [n.status.value for n in history.notifications("dev")] == [
        "deduplicated",
        "deduplicated",
        "sent",
    ]


def test_an_invalid_commit_is_notified_once_to_the_live_commits_channels(
    rx: Receiver, history: SqlHistory, tmp_path: Path
) -> None:
    origin, work = pushed_config(rx, tmp_path)
    reconciler = Reconciler(
        GitMirror(str(origin), tmp_path / "mirror.git", "main"),
        history,
        ControllerMetrics(),
        ["dev"],
        targets=lambda _: [],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_WEBHOOK_SECRET", SECRET)
        reconciler.reconcile("dev", Trigger.POLL)  # valid: live, nothing to send
        edit(work, "environments/dev/routes.yaml", "requestsPerMinute: 60", "requestsPerMinute: -1")
        git(work, "commit", "-qam", "a negative rate limit")
        git(work, "push", "-q", "origin", "main")
        broken = git(work, "rev-parse", "HEAD")
        for _ in range(3):  # three polls see the same invalid commit
            reconciler.reconcile("dev", Trigger.POLL)
        assert reconciler.notifier.flush(10)
    reconciler.shutdown()

    assert [a.result.value for a in history.attempts("dev")] == ["invalid", "in-sync"]
    [post] = rx.requests
    assert independently_verified(post, SECRET)
    body = post.json()
    assert body["title"] == f"commit {broken[:12]} could not be applied"
    assert "invalid:" in body["text"]
    assert "requestsPerMinute" in body["text"]


def posts(rx: Receiver, event: str) -> list[Received]:
    return [r for r in rx.requests if r.headers.get("X-Controlplane-Event") == event]


def test_serve_notifies_drift_once_and_a_sync_that_cannot_run(
    service: Service, rx: Receiver
) -> None:
    sha = service.push(
        "environments/dev/environment.yaml",
        "selfHeal: false",
        f'selfHeal: false\n  notifications: [{{type: webhook, url: "{rx.url}/hook", '
        'secret: "env:TEST_WEBHOOK_SECRET"}]',
        "notify dev's failures to a webhook",
    )
    service.webhook()
    wait_for("the commit with notifications", service.synced_at(sha))

    route = service.live_route()
    route["spec"]["rateLimits"]["requestsPerMinute"] = 5  # a hand edit behind git's back
    httpx.put(
        f"http://127.0.0.1:{service.gateway_port}/admin/v1/resources/Route/chat",
        json=route,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()
    wait_for("the drift notification", lambda: bool(posts(rx, "drift")), timeout=20)
    time.sleep(3)  # three more polls see the same drift
    [drifted] = posts(rx, "drift")
    assert independently_verified(drifted, SECRET)
    assert drifted.json()["title"] == f"live differs from applied commit {sha[:12]}"
    assert "update Route/chat on gateway" in drifted.json()["text"]

    broken = service.push(
        "environments/dev/environment.yaml",
        f"http://127.0.0.1:{service.gateway_port}",
        "http://127.0.0.1:9",  # nothing listens on the discard port: the targets cannot be read
        "point dev at a gateway that is not there",
    )
    service.webhook()
    wait_for("the sync-failed notification", lambda: bool(posts(rx, "sync-failed")), timeout=30)
    time.sleep(2)
    [failed] = posts(rx, "sync-failed")
    assert failed.json()["title"] == f"commit {broken[:12]} could not be applied"
    assert "cannot plan" in failed.json()["text"]

    listed = service.api("/environments/dev/notifications?limit=500")["notifications"]
    sent = [(n["event"], n["status"]) for n in listed if n["status"] == "sent"]
    assert sorted(sent) == [("drift", "sent"), ("sync-failed", "sent")]
    assert {n["status"] for n in listed} <= {"sent", "deduplicated"}
    assert any(n["status"] == "deduplicated" for n in listed)
    assert SECRET not in json.dumps(listed)
    assert SECRET not in (service.tmp / "service.log").read_text()
