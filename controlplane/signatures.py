"""Webhook signatures: HMAC-SHA256 of the body, as GitHub and Gitea send them."""

from __future__ import annotations

import hashlib
import hmac


def _digest(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value for BODY."""
    return "sha256=" + _digest(secret, body)


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether HEADER (with or without the `sha256=` prefix) signs BODY; constant time."""
    if not header:
        return False
    presented = header.removeprefix("sha256=").strip()
    return hmac.compare_digest(presented.encode(), _digest(secret, body).encode())
