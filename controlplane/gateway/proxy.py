"""The data plane: OpenAI-compatible chat completions, routed, guarded, limited and counted.

One request reads one snapshot of the configuration. Its path: rate limits, input guardrails,
a sticky choice of arm, then the arm's model and the route's fallbacks in order until one
answers. A fallback happens only before the first byte reaches the client.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from controlplane.credentials import resolve_config_secret
from controlplane.errors import ConfigError
from controlplane.gateway.admin import gateway_state
from controlplane.gateway.guardrails import check
from controlplane.gateway.routing import Arm, candidates, choose_arm
from controlplane.gateway.snapshot import Snapshot
from controlplane.gateway.state import GatewayState
from controlplane.spec import Model, Route
from controlplane.spec.guardrail import Action, Stage

router = APIRouter()
State = Annotated[GatewayState, Depends(gateway_state)]


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in the OpenAI format, so client libraries show the message."""
    body = {"error": {"message": message, "type": kind, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


@router.get("/v1/models")
async def list_models(state: State) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": r.name, "object": "model", "created": 0, "owned_by": "controlplane"}
            for r in state.snapshot.routes()
        ],
    }


class UpstreamFailure(Exception):
    """The upstream could not answer (connection, timeout, 5xx or 429): try the next model."""


class GuardrailBlocked(Exception):
    def __init__(self, guardrail: str, stage: Stage) -> None:
        super().__init__(f"request blocked by guardrail {guardrail!r} ({stage.value})")


@dataclass
class Call:
    """What one request is doing, for its metrics."""

    state: GatewayState
    route: Route
    arm: Arm
    api_key: str
    started: float
    model: Model | None = None

    def labels(self) -> dict[str, str]:
        model = self.model.name if self.model else self.arm.model
        return {"route": self.route.name, "variant": self.arm.variant, "model": model}

    def finish(self, status: int | str, input_tokens: int = 0, output_tokens: int = 0) -> None:
        m = self.state.metrics
        labels = self.labels()
        m.requests.labels(**labels, status=str(status)).inc()
        m.e2e.labels(**labels).observe(time.perf_counter() - self.started)
        if input_tokens or output_tokens:
            m.input_tokens.labels(**labels).inc(input_tokens)
            m.output_tokens.labels(**labels).inc(output_tokens)
            pricing = self.model.spec.pricing if self.model else None
            if pricing is not None:
                m.cost.labels(**labels).inc(
                    (input_tokens * pricing.input_per_1m + output_tokens * pricing.output_per_1m)
                    / 1_000_000
                )
            self.state.limiter.add_tokens(
                self.route.name, self.api_key, input_tokens + output_tokens
            )


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON, though Python's parser reads them: refuse them."""
    raise ValueError(f"{name} is not JSON")


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State) -> Response:
    started = time.perf_counter()
    snapshot = state.snapshot  # the one configuration this request sees
    try:
        body = json.loads(await request.body(), parse_constant=_no_constant)
    except ValueError:
        return error(400, "invalid_request_error", "the body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return error(400, "invalid_request_error", "expected a JSON object with messages")
    route = snapshot.route(str(body.get("model")))
    if route is None:
        known = ", ".join(r.name for r in snapshot.routes()) or "none"
        return error(404, "model_not_found", f"no route {body.get('model')!r}; routes: {known}")

    api_key = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
    api_key = api_key or "anonymous"
    rejection = state.limiter.admit(route.name, api_key, route.spec.rate_limits)
    if rejection is not None:
        state.metrics.rate_limited.labels(route=route.name, limit=rejection.limit).inc()
        return error(
            429,
            "rate_limit_exceeded",
            f"{rejection.limit} per minute limit of route {route.name!r} reached",
            {"Retry-After": str(rejection.retry_after)},
        )
    try:
        body["messages"] = _guard_messages(state, snapshot, route, body["messages"])
    except GuardrailBlocked as exc:
        return error(400, "guardrail_blocked", str(exc))

    key = _sticky_key(route, request, body) or uuid.uuid4().hex
    call = Call(state, route, choose_arm(route, key), api_key, started)
    stream = bool(body.get("stream"))
    models = candidates(route, call.arm)
    last_error = "no model"
    for index, name in enumerate(models):
        model = snapshot.model(name)
        if model is None:
            continue
        call.model = model
        try:
            upstream = await _open(state, route, model, body, stream)
        except UpstreamFailure as exc:
            last_error = f"{name}: {exc}"
            if index + 1 < len(models):
                state.metrics.fallbacks.labels(
                    route=route.name, from_model=name, to_model=models[index + 1]
                ).inc()
            continue
        headers = {
            "x-controlplane-route": route.name,
            "x-controlplane-variant": call.arm.variant,
            "x-controlplane-model": model.name,
        }
        if upstream.status_code >= 400:  # a client error upstream: pass it on, do not retry
            content = await upstream.aread()
            await upstream.aclose()
            call.finish(upstream.status_code)
            return Response(content, upstream.status_code, headers, "application/json")
        if stream:
            wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _relay(call, snapshot, upstream, wants_usage),
                media_type="text/event-stream",
                headers=headers,
            )
        return await _complete(call, snapshot, upstream, headers)
    call.finish(502)
    return error(
        502,
        "upstream_unavailable",
        f"every model of route {route.name!r} failed; last: {last_error}",
    )


def _sticky_key(route: Route, request: Request, body: dict[str, Any]) -> str | None:
    stickiness = route.spec.stickiness
    if stickiness is None:
        return None
    if stickiness.key == "user":
        user = body.get("user")
        return str(user) if user else None
    return request.headers.get(stickiness.key.removeprefix("header:"))


def _guard_text(
    state: GatewayState, snapshot: Snapshot, route: Route, stage: Stage, text: str
) -> str:
    for name in route.spec.guardrails:
        guardrail = snapshot.guardrail(name)
        if guardrail is None or guardrail.spec.stage is not stage:
            continue
        result = check(guardrail, text)
        if not result.triggered:
            continue
        action = guardrail.spec.action
        state.metrics.guardrail_triggers.labels(
            route=route.name, guardrail=name, stage=stage.value, action=action.value
        ).inc()
        if action is Action.BLOCK:
            raise GuardrailBlocked(name, stage)
        if action is Action.REDACT:
            text = result.text
    return text


def _guard_messages(
    state: GatewayState, snapshot: Snapshot, route: Route, messages: list[Any]
) -> list[Any]:
    guarded = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            content = _guard_text(state, snapshot, route, Stage.INPUT, message["content"])
            message = {**message, "content": content}
        elif isinstance(message, dict) and isinstance(message.get("content"), list):
            parts = [
                {**part, "text": _guard_text(state, snapshot, route, Stage.INPUT, part["text"])}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part
                for part in message["content"]
            ]
            message = {**message, "content": parts}
        guarded.append(message)
    return guarded


async def _open(
    state: GatewayState, route: Route, model: Model, body: dict[str, Any], stream: bool
) -> httpx.Response:
    if model.spec.endpoint is None:
        raise UpstreamFailure("the model has no endpoint")
    headers = {"content-type": "application/json"}
    if model.spec.api_key is not None:
        try:
            key = resolve_config_secret(model.spec.api_key, model.spec.endpoint)
            headers["authorization"] = f"Bearer {key}"
        except ConfigError as exc:
            raise UpstreamFailure(str(exc)) from exc
    upstream_body = {**body, "model": _upstream_model_name(model)}
    if stream:
        upstream_body["stream_options"] = {
            **(body.get("stream_options") or {}),
            "include_usage": True,
        }
    seconds = route.spec.timeout.total_seconds()
    assert state.client is not None
    request = state.client.build_request(
        "POST",
        model.spec.endpoint.rstrip("/") + "/chat/completions",
        json=upstream_body,
        headers=headers,
        timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)),
    )
    try:
        response = await state.client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise UpstreamFailure(type(exc).__name__) from exc
    if response.status_code >= 500 or response.status_code == 429:
        await response.aclose()
        raise UpstreamFailure(f"HTTP {response.status_code}")
    return response


def _upstream_model_name(model: Model) -> str:
    return model.spec.adapter.name if model.spec.adapter else model.spec.base_model


async def _complete(
    call: Call, snapshot: Snapshot, upstream: httpx.Response, headers: dict[str, str]
) -> Response:
    try:
        data = json.loads(await upstream.aread())
    except (httpx.HTTPError, ValueError):
        call.finish(502)
        return error(502, "upstream_error", "the upstream answer was cut off or not JSON")
    finally:
        await upstream.aclose()
    try:
        for choice in data.get("choices") or []:
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                message["content"] = _guard_text(
                    call.state, snapshot, call.route, Stage.OUTPUT, message["content"]
                )
    except GuardrailBlocked as exc:
        call.finish(400)
        return error(400, "guardrail_blocked", str(exc))
    usage = data.get("usage") or {}
    call.finish(200, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    return JSONResponse(data, headers=headers)


async def _relay(
    call: Call, snapshot: Snapshot, upstream: httpx.Response, wants_usage: bool
) -> AsyncIterator[bytes]:
    first: float | None = None
    last = 0.0
    tokens = 0
    usage: dict[str, Any] = {}
    status: int | str = 200
    try:
        async for line in upstream.aiter_lines():
            if not line.startswith("data:"):
                continue
            payload = line.removeprefix("data:").strip()
            if payload == "[DONE]":
                yield b"data: [DONE]\n\n"
                continue
            try:
                chunk = json.loads(payload)
            except ValueError:
                continue
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str) and delta["content"]:
                    now = time.perf_counter()
                    first = first if first is not None else now
                    last = now
                    tokens += 1
                    delta["content"] = _guard_text(
                        call.state, snapshot, call.route, Stage.OUTPUT, delta["content"]
                    )
            if chunk.get("choices") or wants_usage:
                yield f"data: {json.dumps(chunk)}\n\n".encode()
    except GuardrailBlocked as exc:
        status = 400
        event = {"error": {"message": str(exc), "type": "guardrail_blocked"}}
        yield f"data: {json.dumps(event)}\n\n".encode()
    except httpx.HTTPError:
        status = "stream_error"
        yield b'data: {"error": {"message": "upstream stream broke", "type": "upstream_error"}}\n\n'
    finally:
        await upstream.aclose()
        labels = call.labels()
        if first is not None:
            call.state.metrics.ttft.labels(**labels).observe(first - call.started)
            if tokens > 1:
                call.state.metrics.tpot.labels(**labels).observe((last - first) / (tokens - 1))
        output = int(usage.get("completion_tokens", tokens))
        call.finish(status, int(usage.get("prompt_tokens", 0)), output)
