"""The notification adapter's pure parts and the channel config: the webhook signature against an
independent HMAC computation, what a receiver must refuse, the Slack and webhook bodies, and
which events a channel takes."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from controlplane.credentials import register_secret
from controlplane.notify import Event, sign, slack_payload, verify_signature, webhook_payload
from controlplane.spec import Environment
from controlplane.spec.notification import NotificationEvent

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
KEY = "k3y-for-signing-webhooks"
BODY = b'{"event": "drift", "environment": "prod"}'


def event(**changes: object) -> Event:
    fields: dict[str, object] = {
        "kind": NotificationEvent.DRIFT,
        "environment": "prod",
        "title": "live differs from applied commit 0123456789ab",
        "text": "Changed outside git.",
        "dedupe_key": "drift/prod/abc/1",
        "at": AT,
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


def test_the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() -> None:
    independent = hmac.new(KEY.encode(), b"1793534400." + BODY, hashlib.sha256).hexdigest()
    assert sign(KEY, 1793534400, BODY) == f"sha256={independent}"
    assert sign(KEY, 1793534401, BODY) != sign(KEY, 1793534400, BODY)  # the time is signed


def test_a_receiver_refuses_a_changed_body_another_key_an_old_timestamp_or_none() -> None:
    now = 1793534400.0
    good = sign(KEY, int(now), BODY)
    assert verify_signature(KEY, BODY, good, str(int(now)), now)
    assert verify_signature(KEY, BODY, good, str(int(now)), now + 299)
    assert not verify_signature(KEY, BODY, good, str(int(now)), now + 301)  # replayed later
    assert not verify_signature(KEY, BODY + b" ", good, str(int(now)), now)
    assert not verify_signature("another-key", BODY, good, str(int(now)), now)
    assert not verify_signature(KEY, BODY, good, str(int(now) + 1), now)  # timestamp swapped
    assert not verify_signature(KEY, BODY, None, str(int(now)), now)
    assert not verify_signature(KEY, BODY, good, None, now)
    assert not verify_signature(KEY, BODY, good, "12.5", now)


def test_the_slack_message_escapes_mrkdwn_links_and_withholds_credentials() -> None:
    register_secret("xoxb-not-a-real-credential-42")
    found = slack_payload(
        event(
            title="Route <chat> & co",
            text="token xoxb-not-a-real-credential-42 was used",
            url="https://forge.example/pulls/7",
        )
    )
    assert list(found) == ["text"]
    lines = found["text"].split("\n")
    assert lines[0] == "*[prod] drift: Route &lt;chat&gt; &amp; co*"
    assert "xoxb-not-a-real-credential-42" not in found["text"]
    assert lines[-1] == "<https://forge.example/pulls/7>"
    long = slack_payload(event(text="x" * 10_000))["text"]
    assert len(long) < 3200
    assert long.endswith("…")


def test_the_webhook_body_carries_the_event_and_its_delivery_id() -> None:
    found = webhook_payload(event(url="https://forge.example/pulls/7"), "d-1")
    assert found == {
        "id": "d-1",
        "event": "drift",
        "environment": "prod",
        "title": "live differs from applied commit 0123456789ab",
        "text": "Changed outside git.",
        "url": "https://forge.example/pulls/7",
        "dedupeKey": "drift/prod/abc/1",
        "at": "2026-11-01T12:00:00+00:00",
    }
    assert json.dumps(found)


def test_an_event_is_of_one_kind_with_a_key_and_a_zoned_time() -> None:
    with pytest.raises(ValueError, match="one kind"):
        event(kind=NotificationEvent.ALL)
    with pytest.raises(ValueError, match="dedupe key"):
        event(dedupe_key="")
    with pytest.raises(ValueError, match="time zone"):
        event(at=datetime(2026, 11, 1, 12, 0))


def environment(notifications: list[dict[str, object]]) -> Environment:
    return Environment.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": "prod"},
            "spec": {
                "targets": [{"type": "gateway", "url": "http://127.0.0.1:4000"}],
                "notifications": notifications,
            },
        }
    )


def test_channels_take_the_events_they_name_and_all_by_default() -> None:
    spec = environment(
        [
            {"type": "slack", "url": "env:SLACK_URL"},
            {"type": "slack", "name": "ops", "url": "env:OPS_URL", "events": ["all"]},
            {
                "type": "webhook",
                "url": "https://hooks.example/cp",
                "secret": "env:HOOK_KEY",
                "events": ["drift", "sync-failed"],
                "minInterval": "10m",
                "maxPerMinute": 3,
            },
        ]
    ).spec
    everything, ops, hook = spec.notifications
    assert all(everything.wants(k) and ops.wants(k) for k in NotificationEvent)
    assert hook.wants(NotificationEvent.DRIFT)
    assert hook.wants(NotificationEvent.SYNC_FAILED)
    assert not hook.wants(NotificationEvent.ROLLBACK_PR)
    assert (hook.min_interval, hook.max_per_minute) == (timedelta(minutes=10), 3)
    assert (everything.min_interval, everything.max_per_minute) == (timedelta(hours=1), 20)


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        ([{"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/x"}], "url"),
        ([{"type": "webhook", "url": "https://h.example", "secret": "inline"}], "secret"),
        ([{"type": "webhook", "url": "https://h.example"}], "secret"),
        ([{"type": "pager", "url": "env:X"}], "does not match any of the expected tags"),
        ([{"type": "slack", "url": "env:X", "events": ["pages"]}], "events.0"),
        ([{"type": "slack", "url": "env:X", "maxPerMinute": 0}], "maxPerMinute"),
        ([{"type": "slack", "url": "env:A"}, {"type": "slack", "url": "env:B"}], "unique"),
    ],
)
def test_bad_channels_are_config_errors(channels: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        environment(channels)
