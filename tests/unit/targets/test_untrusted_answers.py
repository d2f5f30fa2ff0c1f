"""The gateway driver reads the admin API's answers as untrusted: one that is not the documented
shape is a TargetError with one short reason (the reconciler records it and retries), never a
crash. Answers come from a labelled STAND-IN transport (httpx's MockTransport)."""

from __future__ import annotations

import httpx
import pytest

from controlplane.errors import TargetError
from controlplane.targets.gateway import GatewayDriver


def answering(status: int, body: bytes) -> GatewayDriver:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    return GatewayDriver("gw", "http://gateway.stand-in", "token", retries=0, transport=transport)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not the admin api</html>",
        b"[]",
        b'{"version": 1}',
        b'{"version": 1, "resources": [{"kind": "Model"}]}',
        b'{"version": 1, "resources": [{"kind": "Model", "name": "m", "version": 1, '
        b'"document": {}}]}',
        b"[" * 100_000,
    ],
)
def test_a_listing_that_is_not_the_admin_apis_is_a_target_error(body: bytes) -> None:
    with pytest.raises(TargetError) as raised:
        answering(200, body).read()
    assert "gateway 'gw'" in str(raised.value)
    assert len(str(raised.value)) < 600


def test_a_refusal_whose_body_is_not_an_object_is_still_explained() -> None:
    with pytest.raises(TargetError, match=r"answered 400: \[1, 2\]"):
        answering(400, b"[1, 2]").read()
