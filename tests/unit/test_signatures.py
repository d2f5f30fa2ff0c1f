"""Webhook signatures: HMAC-SHA256 of the body, with or without the `sha256=` prefix."""

from __future__ import annotations

import hashlib
import hmac

from controlplane.signatures import signature_header, verify_signature


def test_webhook_signatures() -> None:
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert signature_header("s", body) == good
    assert verify_signature("s", body, good)
    assert verify_signature("s", body, good.removeprefix("sha256="))  # Gitea sends the bare hex
    assert not verify_signature("s", body + b" ", good)
    assert not verify_signature("s", body, None)
    assert not verify_signature("t", body, good)
