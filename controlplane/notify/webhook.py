"""Generic webhooks: a JSON POST signed with HMAC-SHA256.

The signature scheme (as Stripe's and Slack's, so a captured request cannot be replayed later)::

    X-Controlplane-Timestamp: <unix seconds when this try was sent>
    X-Controlplane-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>." + raw body)>
    X-Controlplane-Delivery:  <id of the delivery, the same on every retry of it>
    X-Controlplane-Event:     <event kind, e.g. drift>

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body bytes with the
shared key, compares in constant time, refuses a timestamp more than five minutes from its clock,
and may drop a delivery id it has already seen (`verify_signature` here does the first three).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from controlplane.credentials import redact
from controlplane.notify.event import Event
from controlplane.notify.http import NotifyHttp

SIGNATURE_HEADER = "X-Controlplane-Signature"
TIMESTAMP_HEADER = "X-Controlplane-Timestamp"
DELIVERY_HEADER = "X-Controlplane-Delivery"
EVENT_HEADER = "X-Controlplane-Event"
TOLERANCE_SECONDS = 300


def signed_material(timestamp: int, body: bytes) -> bytes:
    """What the signature covers: the timestamp, a dot, and the raw body."""
    return str(timestamp).encode() + b"." + body


def sign(key: str, timestamp: int, body: bytes) -> str:
    """The X-Controlplane-Signature value of BODY sent at TIMESTAMP."""
    digest = hmac.new(key.encode(), signed_material(timestamp, body), hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    key: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether SIGNATURE signs BODY at TIMESTAMP (the two headers as received) with KEY, and
    TIMESTAMP is within TOLERANCE seconds of NOW; constant time."""
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(key, int(timestamp), body)
    return hmac.compare_digest(signature.strip().encode(), expected.encode())


def webhook_payload(event: Event, delivery: str) -> dict[str, Any]:
    """The JSON body for EVENT (credentials redacted from its words)."""
    return {
        "id": delivery,
        "event": event.kind.value,
        "environment": event.environment,
        "title": redact(event.title),
        "text": redact(event.text),
        "url": event.url or None,
        "dedupeKey": event.dedupe_key,
        "at": event.at.isoformat(),
    }


class WebhookChannel:
    """A channel that posts signed JSON to one URL with one key (resolved from its reference)."""

    def __init__(
        self,
        name: str,
        url: str,
        key: str,
        http: NotifyHttp | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.url = url
        self._key = key
        self._http = http or NotifyHttp(f"webhook channel {name!r}")
        self._now = now

    def __repr__(self) -> str:  # never the key
        return f"WebhookChannel({self.name!r}, {self.url!r})"

    def send(self, event: Event) -> int:
        delivery = uuid.uuid4().hex
        body = json.dumps(webhook_payload(event, delivery)).encode()

        def headers() -> dict[str, str]:  # signed afresh on each try, with that try's time
            timestamp = int(self._now())
            return {
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(self._key, timestamp, body),
                DELIVERY_HEADER: delivery,
                EVENT_HEADER: event.kind.value,
            }

        return self._http.post(self.url, body, headers)
