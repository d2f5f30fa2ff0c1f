"""The data plane: OpenAI-compatible chat completions and embeddings, routed, guarded, limited,
cached and counted.

One request reads one snapshot of the configuration. Its path: who is calling (consumer key),
whether they may call the route, budgets and rate limits, input guardrails, the cache, a sticky
choice of arm (or the cascade's fast model), then the arm's model and the route's fallbacks in
order until one answers. A fallback happens only before the first byte reaches the client.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from controlplane.gateway.admin import gateway_state
from controlplane.gateway.auth import Caller, Denied, authorize, identify
from controlplane.gateway.caching import Lookup, cache_lookup
from controlplane.gateway.calls import Call, answer_text, charge_usage
from controlplane.gateway.cascade import ask_fast
from controlplane.gateway.errors import error
from controlplane.gateway.guarding import GuardrailBlocked, guard_answer, guard_messages, has_deep
from controlplane.gateway.relay import relay
from controlplane.gateway.routing import candidates, choose_arm
from controlplane.gateway.snapshot import Snapshot
from controlplane.gateway.sse import completion_events
from controlplane.gateway.state import GatewayState
from controlplane.gateway.upstream import (
    UpstreamFailure,
    error_message,
    first_token,
    post,
    upstream_body,
)
from controlplane.spec import Route
from controlplane.spec.guardrail import Stage
from controlplane.spec.model import Task
from controlplane.spec.route import RateLimits

router = APIRouter()
State = Annotated[GatewayState, Depends(gateway_state)]


class Refused(Exception):
    """The request ends here with an OpenAI-style error."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.headers = headers
        self.param = param

    def response(self) -> Response:
        return error(self.status, self.kind, str(self), self.headers, self.param)


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON, though Python's parser reads them: refuse them."""
    raise ValueError(f"{name} is not JSON")


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body(), parse_constant=_no_constant)
    except ValueError as exc:
        raise Refused(400, "invalid_request_error", "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise Refused(400, "invalid_request_error", "expected a JSON object")
    return body


def _caller(request: Request, snapshot: Snapshot) -> Caller:
    try:
        return identify(request.headers.get("authorization"), snapshot.keys)
    except Denied as exc:
        raise Refused(exc.status, exc.kind, str(exc)) from exc


def _route(snapshot: Snapshot, caller: Caller, name: object) -> Route:
    """The route a request names, if the caller may call it. A caller without a key learns
    nothing about routes it may not call."""
    route = snapshot.route(str(name))
    if route is None:
        if caller.consumer is None:
            raise Refused(401, "invalid_api_key", "an API key is required")
        known = ", ".join(r.name for r in snapshot.routes() if caller.may_call(r)) or "none"
        raise Refused(404, "model_not_found", f"no route {name!r}; routes: {known}")
    try:
        authorize(caller, route)
    except Denied as exc:
        raise Refused(exc.status, exc.kind, str(exc)) from exc
    return route


def _refuse_and_count(call: Call, refused: Refused) -> Response:
    if refused.status in (401, 403):
        call.state.metrics.unauthorized.labels(status=str(refused.status)).inc()
    call.error = str(refused)
    call.finish(refused.status)
    return refused.response()


@router.get("/v1/models")
async def list_models(request: Request, state: State) -> Response:
    snapshot = state.snapshot
    try:
        caller = _caller(request, snapshot)
    except Refused as exc:
        return exc.response()
    return JSONResponse(
        {
            "object": "list",
            "data": [_model_card(r) for r in snapshot.routes() if caller.may_call(r)],
        }
    )


@router.get("/v1/models/{model_id:path}")
async def get_model(model_id: str, request: Request, state: State) -> Response:
    snapshot = state.snapshot
    try:
        return JSONResponse(_model_card(_route(snapshot, _caller(request, snapshot), model_id)))
    except Refused as exc:
        return exc.response()


def _model_card(route: Route) -> dict[str, Any]:
    return {"id": route.name, "object": "model", "created": 0, "owned_by": "controlplane"}


def _admit(call: Call, route: Route) -> None:
    """Budgets (of the caller, its team and the route), then rate limits, halved while a
    budget throttles."""
    state, caller = call.state, call.caller
    verdict = state.ledger.verdict(call.snapshot.budgets, call.usage(None))
    if verdict.blocked_by is not None:
        state.metrics.budget_blocked.labels(route=route.name, budget=verdict.blocked_by.name).inc()
        retry = max(1, int(verdict.resets_at - time.time()))
        raise Refused(429, "budget_exceeded", verdict.message(), {"Retry-After": str(retry)})
    throttled = verdict.throttled_by is not None
    limits = [(route.name, route.spec.rate_limits)]
    if caller.consumer is not None:
        limits.append(("", caller.consumer.spec.rate_limits))
    for scope, configured in limits:
        rejection = state.limiter.admit(scope, caller.name, _halved(configured, throttled))
        if rejection is not None:
            state.metrics.rate_limited.labels(route=route.name, limit=rejection.limit).inc()
            owner = f"route {route.name!r}" if scope else f"consumer {caller.name!r}"
            why = f" (halved: budget {verdict.throttled_by.name!r})" if verdict.throttled_by else ""
            raise Refused(
                429,
                "rate_limit_exceeded",
                f"{rejection.limit} per minute limit of {owner} reached{why}",
                {"Retry-After": str(rejection.retry_after)},
            )


def _halved(limits: RateLimits, throttled: bool) -> RateLimits:
    if not throttled:
        return limits
    return RateLimits(
        requests_per_minute=max(1, limits.requests_per_minute // 2)
        if limits.requests_per_minute
        else None,
        tokens_per_minute=max(1, limits.tokens_per_minute // 2)
        if limits.tokens_per_minute
        else None,
    )


def _check_what_the_gateway_reads(body: dict[str, Any]) -> None:
    """The fields the gateway itself acts on must have their OpenAI types; the rest are the
    upstream's to judge."""
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Refused(400, "invalid_request_error", "stream must be true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise Refused(400, "invalid_request_error", "stream_options must be an object")


# A client's own request id is echoed and logged only when it is a plain token of this size.
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,128}")


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State) -> Response:
    """Every answer, errors included, carries the gateway's id for the request in
    `x-request-id` (and in the body's `id`): the id feedback names. A client's own id
    (`x-client-request-id`, or `x-request-id`) does not replace it: ids feedback can name are
    the gateway's, unique and unguessable. It is echoed as `x-client-request-id` and written in
    the request log."""
    call = Call(state, state.snapshot, Caller(None), time.perf_counter(), rateable=True)
    sent = request.headers.get("x-client-request-id") or request.headers.get("x-request-id")
    if sent is not None and _CLIENT_ID.fullmatch(sent):
        call.client_request_id = sent
    response = await _chat_completions(request, state, call)
    response.headers["x-request-id"] = call.request_id
    if call.client_request_id is not None:
        response.headers["x-client-request-id"] = call.client_request_id
    return response


async def _chat_completions(request: Request, state: State, call: Call) -> Response:
    snapshot = call.snapshot  # the one configuration this request sees
    try:
        body = await json_body(request)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Refused(
                400, "invalid_request_error", "messages must be a non-empty list of messages"
            )
        _check_what_the_gateway_reads(body)
        call.caller = _caller(request, snapshot)
        route = call.route = _route(snapshot, call.caller, body.get("model"))
        _admit(call, route)
        if has_deep(call, route, Stage.INPUT):  # a classifier: off the event loop
            body["messages"] = await asyncio.to_thread(guard_messages, call, route, messages)
        else:
            body["messages"] = guard_messages(call, route, messages)
    except Refused as refused:
        return _refuse_and_count(call, refused)
    except GuardrailBlocked as exc:
        call.error = str(exc)
        call.finish(exc.status)
        return exc.response()
    call.messages = body["messages"]
    stream = bool(body.get("stream"))
    key = _sticky_key(route, request, body) or uuid.uuid4().hex
    call.arm = choose_arm(route, key)

    headers = {"x-controlplane-route": route.name, "x-controlplane-variant": call.arm.variant}
    lookup = cache_lookup(route, call.caller, body, request.headers)
    if route.spec.cache.enabled:
        hit = await state.cache.get(route, lookup) if lookup is not None else None
        call.cache = headers["x-controlplane-cache"] = (
            "bypass" if lookup is None else ("hit" if hit else "miss")
        )
        state.metrics.cache.labels(route=route.name, outcome=call.cache).inc()
        if hit is not None:
            call.similarity = hit.similarity
            if hit.similarity < 1.0:
                state.metrics.cache_similarity.labels(route=route.name).observe(hit.similarity)
            return _answer(call, route, hit.answer, body, stream, headers)

    models = candidates(route, call.arm)
    if route.spec.cascade is not None:
        cascade = route.spec.cascade
        answered = await ask_fast(call, route, body)
        if answered is not None:
            headers["x-controlplane-model"] = cascade.fast
            await _store(call, route, lookup, answered)
            return _answer(call, route, answered, body, stream, headers)
        models = list(dict.fromkeys([cascade.strong, *route.spec.fallbacks]))

    last: UpstreamFailure | None = None
    for index, name in enumerate(models):
        model = snapshot.model(name)
        if model is None:
            continue
        call.model = model
        blocked = state.ledger.verdict(snapshot.budgets, call.usage(model)).blocked_by
        try:
            if blocked is not None:
                raise UpstreamFailure(f"budget {blocked.name!r} is spent", 429)
            upstream = await post(
                state, route, model, "/chat/completions", upstream_body(model, body, stream)
            )
            opened = await first_token(upstream, _first_token_timeout(route)) if stream else None
        except UpstreamFailure as exc:
            last = exc
            if index + 1 < len(models):
                call.fallbacks.append(name)
                state.metrics.fallbacks.labels(
                    route=route.name, from_model=name, to_model=models[index + 1]
                ).inc()
            continue
        headers["x-controlplane-model"] = model.name
        if upstream.status_code >= 400:  # a client error upstream: pass it on, do not retry
            return await _client_error(call, upstream, headers)
        if opened is not None:
            return StreamingResponse(
                relay(call, route, opened, body, lookup),
                media_type="text/event-stream",
                headers=headers,
            )
        return await _complete(call, route, upstream, body, headers, lookup)
    return _all_failed(call, route, last)


def _first_token_timeout(route: Route) -> float | None:
    timeout = route.spec.first_token_timeout
    return timeout.total_seconds() if timeout is not None else None


def _all_failed(call: Call, route: Route, last: UpstreamFailure | None) -> Response:
    status = last.status if last is not None and last.status else 502
    reason = str(last) if last is not None else "no model"
    if last is not None and last.message:
        reason += f": {last.message}"
    call.error = reason
    call.finish(status)
    kind = "rate_limit_exceeded" if status == 429 else "upstream_error"
    return error(status, kind, f"every model of route {route.name!r} failed; last: {reason}")


async def _client_error(call: Call, upstream: httpx.Response, headers: dict[str, str]) -> Response:
    """An upstream 4xx is the client's to fix: its status and message, in OpenAI's format."""
    content = await upstream.aread()
    await upstream.aclose()
    status = upstream.status_code
    message = error_message(content) or content.decode("utf-8", "replace")[:500]
    call.error = message
    call.finish(status)
    response = error(status, "invalid_request_error", message, code="upstream_rejected")
    response.headers.update(headers)
    return response


def _sticky_key(route: Route, request: Request, body: dict[str, Any]) -> str | None:
    stickiness = route.spec.stickiness
    if stickiness is None:
        return None
    if stickiness.key == "user":
        user = body.get("user")
        return str(user) if user else None
    return request.headers.get(stickiness.key.removeprefix("header:"))


async def _complete(
    call: Call,
    route: Route,
    upstream: httpx.Response,
    body: dict[str, Any],
    headers: dict[str, str],
    lookup: Lookup | None,
) -> Response:
    try:
        data = json.loads(await upstream.aread())
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (httpx.HTTPError, ValueError):
        call.error = "the upstream answer was cut off or not JSON"
        call.finish(502)
        return error(502, "upstream_error", call.error)
    finally:
        await upstream.aclose()
    charge_usage(call, call.model, body, data)
    try:
        if has_deep(call, route, Stage.OUTPUT):
            await asyncio.to_thread(guard_answer, call, route, data)
        else:
            guard_answer(call, route, data)
    except GuardrailBlocked as exc:
        call.error = str(exc)
        call.finish(exc.status)
        return exc.response()
    data["model"] = route.name  # clients asked for the route; the header names the model
    data["id"] = call.request_id
    await _store(call, route, lookup, data)
    call.answer = answer_text(data)
    call.finish(200)
    return JSONResponse(data, headers=headers)


async def _store(call: Call, route: Route, lookup: Lookup | None, data: dict[str, Any]) -> None:
    if lookup is not None and call.cache == "miss":
        await call.state.cache.put(route, lookup, data)


def _answer(
    call: Call,
    route: Route,
    data: dict[str, Any],
    body: dict[str, Any],
    stream: bool,
    headers: dict[str, str],
) -> Response:
    """A whole answer we already hold (from the cache or the cascade), as JSON or replayed as
    server-sent events for a streaming client."""
    data = {**data, "model": route.name, "id": call.request_id}
    call.answer = answer_text(data)
    call.finish(200)
    if not stream:
        return JSONResponse(data, headers=headers)
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return StreamingResponse(
        completion_events(data, wants_usage), media_type="text/event-stream", headers=headers
    )


@router.post("/v1/embeddings")
async def embeddings(request: Request, state: State) -> Response:
    snapshot = state.snapshot
    call = Call(state, snapshot, Caller(None), time.perf_counter())
    try:
        body = await json_body(request)
        text = body.get("input")
        if not (isinstance(text, str) and text) and not (isinstance(text, list) and text):
            raise Refused(400, "invalid_request_error", "input must be a string or a list")
        call.caller = _caller(request, snapshot)
        route = call.route = _route(snapshot, call.caller, body.get("model"))
        _admit(call, route)
    except Refused as refused:
        return _refuse_and_count(call, refused)
    call.arm = choose_arm(route, uuid.uuid4().hex)
    last: UpstreamFailure | None = None
    for name in candidates(route, call.arm):
        model = snapshot.model(name)
        if model is None:
            continue
        call.model = model
        if model.spec.task is not Task.EMBEDDING:
            call.error = f"route {route.name!r} serves chat model {model.name!r}"
            call.finish(400)
            return error(400, "invalid_request_error", call.error + "; use /v1/chat/completions")
        try:
            upstream = await post(
                state, route, model, "/embeddings", upstream_body(model, body, False)
            )
        except UpstreamFailure as exc:
            last = exc
            call.fallbacks.append(name)
            continue
        if upstream.status_code >= 400:
            return await _client_error(call, upstream, {"x-controlplane-model": model.name})
        try:
            data = json.loads(await upstream.aread())
        except (httpx.HTTPError, ValueError):
            call.finish(502)
            return error(502, "upstream_error", "the upstream answer was cut off or not JSON")
        finally:
            await upstream.aclose()
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            call.charge(model, int(usage.get("prompt_tokens", 0)), 0)
        data["model"] = route.name
        call.finish(200)
        return JSONResponse(data, headers={"x-controlplane-model": model.name})
    return _all_failed(call, route, last)
