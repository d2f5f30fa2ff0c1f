"""Notifications: Slack-compatible incoming webhooks and signed JSON webhooks, one adapter.

`Channel` is the protocol the engine uses; `SlackChannel` and `WebhookChannel` implement it over
one HTTP layer (`NotifyHttp`: a timeout, bounded retries). Failures are NotificationError."""

from controlplane.notify.base import Channel
from controlplane.notify.event import Event
from controlplane.notify.http import NotifyHttp
from controlplane.notify.slack import SlackChannel, slack_payload
from controlplane.notify.webhook import WebhookChannel, sign, verify_signature, webhook_payload

__all__ = [
    "Channel",
    "Event",
    "NotifyHttp",
    "SlackChannel",
    "WebhookChannel",
    "sign",
    "slack_payload",
    "verify_signature",
    "webhook_payload",
]
