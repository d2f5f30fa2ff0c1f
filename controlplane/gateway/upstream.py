"""Talking to a model server: the request it gets, and what counts as it failing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from controlplane.credentials import resolve_config_secret
from controlplane.errors import ConfigError
from controlplane.gateway.state import GatewayState
from controlplane.spec import Model, Route
from controlplane.spec.model import Framework


class UpstreamFailure(Exception):
    """The upstream could not answer (connection, timeout, 5xx, 429, no first token in time):
    try the next model. `status` and `message` are the upstream's own, when it sent them."""

    def __init__(self, reason: str, status: int | None = None, message: str | None = None):
        super().__init__(reason)
        self.status = status
        self.message = message


def upstream_model_name(model: Model) -> str:
    return model.spec.adapter.name if model.spec.adapter else model.spec.base_model


def upstream_body(model: Model, body: dict[str, Any], stream: bool) -> dict[str, Any]:
    """The client's body as this model's server expects it."""
    sent = {**body, "model": upstream_model_name(model)}
    if "max_completion_tokens" in sent and model.spec.framework is not Framework.EXTERNAL_API:
        # Self-hosted servers (llama.cpp, older vLLM) know only max_tokens.
        limit = sent.pop("max_completion_tokens")
        sent.setdefault("max_tokens", limit)
    if stream:
        sent["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return sent


def error_message(content: bytes) -> str | None:
    """The message of an OpenAI-style error body, when it is one."""
    try:
        parsed = json.loads(content)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(parsed.get("detail"), str):
            return str(parsed["detail"])
    return None


async def post(
    state: GatewayState, route: Route, model: Model, path: str, body: dict[str, Any]
) -> httpx.Response:
    """POST to the model's server, streamed; UpstreamFailure for what another model may fix."""
    if model.spec.endpoint is None:
        raise UpstreamFailure("the model has no endpoint")
    headers = {"content-type": "application/json"}
    if model.spec.api_key is not None:
        try:
            key = resolve_config_secret(model.spec.api_key, model.spec.endpoint)
            headers["authorization"] = f"Bearer {key}"
        except ConfigError as exc:
            raise UpstreamFailure(str(exc)) from exc
    seconds = route.spec.timeout.total_seconds()
    assert state.client is not None
    request = state.client.build_request(
        "POST",
        model.spec.endpoint.rstrip("/") + path,
        json=body,
        headers=headers,
        timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
    )
    try:
        response = await state.client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise UpstreamFailure(type(exc).__name__) from exc
    if response.status_code >= 500 or response.status_code == 429:
        content = await response.aread()
        await response.aclose()
        raise UpstreamFailure(
            f"HTTP {response.status_code}", response.status_code, error_message(content)
        )
    return response


@dataclass
class OpenStream:
    """A stream whose first lines (up to the first token) are already read."""

    response: httpx.Response
    head: list[str]
    rest: AsyncIterator[str]
    first_token_at: float | None

    async def lines(self) -> AsyncIterator[str]:
        for line in self.head:
            yield line
        async for line in self.rest:
            yield line


def has_content(line: str) -> bool:
    if not line.startswith("data:"):
        return False
    try:
        chunk = json.loads(line.removeprefix("data:").strip())
    except ValueError:
        return False
    if not isinstance(chunk, dict):
        return False
    return any(
        isinstance(c, dict) and (c.get("delta") or {}).get("content")
        for c in chunk.get("choices") or []
    )


async def first_token(response: httpx.Response, timeout: float | None) -> OpenStream:
    """Read up to the first token; UpstreamFailure when it does not come within `timeout`,
    which is before any byte has gone to the client, so the next model can still answer."""
    lines = response.aiter_lines()
    head: list[str] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            line = await asyncio.wait_for(anext(lines), remaining)
            head.append(line)
            if has_content(line):
                return OpenStream(response, head, lines, time.perf_counter())
    except StopAsyncIteration:
        return OpenStream(response, head, lines, None)
    except TimeoutError as exc:
        await response.aclose()
        raise UpstreamFailure(f"no first token within {timeout:g}s") from exc
    except httpx.HTTPError as exc:
        await response.aclose()
        raise UpstreamFailure(type(exc).__name__) from exc
