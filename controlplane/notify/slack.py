"""Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat, Discord's /slack URLs):
one JSON POST of `{"text": ...}` in Slack's mrkdwn, to a URL that is itself the credential."""

from __future__ import annotations

import json
from typing import Any

from controlplane.credentials import redact
from controlplane.notify.event import Event
from controlplane.notify.http import NotifyHttp

TEXT_LIMIT = 3000  # Slack truncates a message's text well after this; people stop reading here
TITLES = {
    "sync-failed": "sync failed",
    "drift": "drift",
    "policy-failed": "policy failing",
    "rollback-pr": "rollback pull request",
    "promotion-pr": "promotion pull request",
    "budget-threshold": "budget threshold",
}


def _escape(text: str) -> str:
    """Text as Slack shows it literally: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(event: Event) -> dict[str, Any]:
    """The incoming-webhook body for EVENT: a bold first line with the environment, the kind
    and the title, then the text, then the link. Credentials are redacted from the text."""
    kind = TITLES.get(event.kind.value, event.kind.value)
    lines = [f"*[{_escape(event.environment)}] {kind}: {_escape(redact(event.title))}*"]
    if event.text:
        text = _escape(redact(event.text))
        lines.append(text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…")
    if event.url:
        lines.append(f"<{event.url.replace('|', '%7C').replace('>', '%3E')}>")
    return {"text": "\n".join(lines)}


class SlackChannel:
    """A channel that posts to one incoming webhook URL (already resolved from its reference)."""

    def __init__(self, name: str, url: str, http: NotifyHttp | None = None) -> None:
        self.name = name
        self._url = url
        self._http = http or NotifyHttp(f"slack channel {name!r}")

    def __repr__(self) -> str:  # never the URL: it is the credential
        return f"SlackChannel({self.name!r})"

    def send(self, event: Event) -> int:
        body = json.dumps(slack_payload(event)).encode()
        return self._http.post(self._url, body, dict)
