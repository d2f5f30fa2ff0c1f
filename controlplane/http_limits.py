"""Limits at the network edge, for every controlplane HTTP server: an ASGI middleware.

Before an application sees a request, the middleware refuses:
- headers larger than `max_header_bytes` in all (431);
- a body whose Content-Length is over `max_body_bytes` (413), without reading a byte of it; a
  body without one is read only up to that size, and only for `body_seconds`;
- a JSON body nested deeper than `max_json_depth` (400), before anything parses it (Python's
  parser would recurse until a RecursionError).
So a webhook's body is bounded before its signature is checked, and the gateway's
unauthenticated data plane is bounded before routing. Each refusal is answered in the format
the server speaks (`error_body`): OpenAI's error object on the data plane, `detail` elsewhere.
`protect` installs it on an app, with a handler for bodies FastAPI cannot validate that never
echoes the input back (FastAPI's own would, and fails on a value JSON cannot hold).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[str, int, str], dict[str, Any]]  # (path, status, message) -> JSON body


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 8 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_json_depth: int = 64
    body_seconds: float = 30.0


def detail_body(path: str, status: int, message: str) -> dict[str, Any]:
    """FastAPI's error shape."""
    return {"detail": message}


def protect(app: FastAPI, limits: Limits, error_body: ErrorBody = detail_body) -> None:
    """Limits in front of APP, and invalid bodies answered 422 without their input."""
    app.add_middleware(RequestLimits, limits=limits, error_body=error_body)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(
            f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in exc.errors()[:5]
        )
        body = error_body(request.url.path, 422, f"the request is not valid: {reasons}"[:1000])
        return JSONResponse(body, status_code=422)


class RequestLimits:
    def __init__(self, app: ASGIApp, limits: Limits, error_body: ErrorBody = detail_body) -> None:
        self.app = app
        self.limits = limits
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if sum(len(k) + len(v) for k, v in headers) > self.limits.max_header_bytes:
            await self._refuse(
                scope, send, 431, f"headers over {self.limits.max_header_bytes} bytes"
            )
            return
        length = _content_length(headers)
        if length is not None and length > self.limits.max_body_bytes:
            await self._refuse(scope, send, 413, f"a body over {self.limits.max_body_bytes} bytes")
            return
        try:
            body = await asyncio.wait_for(self._read(receive), self.limits.body_seconds)
        except TimeoutError:
            await self._refuse(
                scope, send, 408, f"the body took over {self.limits.body_seconds:g} s"
            )
            return
        except _TooLarge:
            await self._refuse(scope, send, 413, f"a body over {self.limits.max_body_bytes} bytes")
            return
        except _Disconnected:
            return
        if _is_json(headers) and json_too_deep(body, self.limits.max_json_depth):
            await self._refuse(
                scope, send, 400, f"JSON nested over {self.limits.max_json_depth} deep"
            )
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, scope: Scope, send: Send, status: int, message: str) -> None:
        answer = self.error_body(scope.get("path", ""), status, f"request refused: {message}")
        body = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then waits as the server's does."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """Bodies are checked unless they say they are something other than JSON."""
    for key, value in headers:
        if key.lower() == b"content-type":
            return b"json" in value.lower() or not value.strip()
    return True


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than LIMIT (brackets inside
    strings do not count). Free when the text has no more brackets than the limit, as chat
    requests do; otherwise one pass over its brackets."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b'""', body)):
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False
