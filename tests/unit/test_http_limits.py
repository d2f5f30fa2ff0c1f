"""Limits at the network edge, in front of the real gateway and service apps (in process, through
Starlette's test client): bodies, nesting and headers are refused before anything parses them,
in the format of the API asked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from controlplane.gateway.app import create_app
from controlplane.http_limits import Limits, RequestLimits, json_too_deep

DEEP = b"[" * 100_000 + b"]" * 100_000
NESTED = b"[" * 1000 + b"]" * 1000  # small enough for the body limit, too deep to parse safely


@pytest.fixture
def gateway() -> Iterator[TestClient]:
    with TestClient(create_app("admin-token-for-tests", limits=Limits(max_body_bytes=4096))) as c:
        yield c


def test_the_data_plane_refuses_deep_json_and_big_bodies_in_openai_format(
    gateway: TestClient,
) -> None:
    deep = gateway.post(
        "/v1/chat/completions", content=NESTED, headers={"content-type": "application/json"}
    )
    assert deep.status_code == 400
    assert deep.json()["error"]["type"] == "invalid_request_error"
    assert "nested over 64 deep" in deep.json()["error"]["message"]
    big = gateway.post("/v1/chat/completions", content=b"x" * 5000)
    assert big.status_code == 413
    assert "over 4096 bytes" in big.json()["error"]["message"]
    headers = gateway.get("/v1/models", headers={"x-filler": "y" * 70_000})
    assert headers.status_code == 431


def test_the_admin_api_refuses_in_its_own_format_before_the_token_is_checked(
    gateway: TestClient,
) -> None:
    answer = gateway.put(
        "/admin/v1/resources/Model/m", content=NESTED, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert "nested over" in answer.json()["detail"]


def test_a_body_without_a_length_is_read_only_up_to_the_limit() -> None:
    seen: list[int] = []
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        seen.append(len(await request.body()))
        return {"size": seen[-1]}

    app.add_middleware(RequestLimits, limits=Limits(max_body_bytes=1000))
    with TestClient(app) as client:
        chunks = iter([b"a" * 600, b"b" * 600])  # a generator body: sent chunked, no length
        assert client.post("/echo", content=chunks).status_code == 413
        assert client.post("/echo", content=(c for c in [b"a" * 600])).json() == {"size": 600}
    assert seen == [600]  # the oversized body never reached the app


@pytest.mark.parametrize(
    ("body", "limit", "deep"),
    [
        (b'{"a": [[[1]]]}', 4, False),
        (b'{"a": [[[[1]]]]}', 4, True),
        (json.dumps({"text": "[[[[[[[[" * 50}).encode(), 4, False),  # brackets in strings
        (b'{"k": "\\"[[[[[["}', 2, False),  # an escaped quote does not end the string
        (DEEP, 64, True),
    ],
)
def test_json_depth(body: bytes, limit: int, deep: bool) -> None:
    assert json_too_deep(body, limit) is deep
