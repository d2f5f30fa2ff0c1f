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
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from controlplane.errors import ConfigError
from controlplane.gateway import tokens
from controlplane.gateway.admin import gateway_state
from controlplane.gateway.auth import Caller, Denied, authorize, identify
from controlplane.gateway.caching import Lookup, cache_lookup
from controlplane.gateway.calls import Call
from controlplane.gateway.guardrails import check, is_deep
from controlplane.gateway.routing import candidates, choose_arm
from controlplane.gateway.snapshot import Snapshot
from controlplane.gateway.sse import completion_events, event
from controlplane.gateway.state import GatewayState
from controlplane.gateway.streaming import StreamGuard
from controlplane.gateway.upstream import (
    OpenStream,
    UpstreamFailure,
    error_message,
    first_token,
    post,
    upstream_body,
)
from controlplane.spec import Guardrail, Model, Route
from controlplane.spec.guardrail import Action, Stage
from controlplane.spec.model import Task
from controlplane.spec.route import RateLimits

router = APIRouter()
State = Annotated[GatewayState, Depends(gateway_state)]


def error(
    status: int,
    kind: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
    code: str | None = None,
) -> Response:
    """An error in OpenAI's format, so client libraries raise the right exception with it."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code or kind}}
    return JSONResponse(body, status_code=status, headers=headers)


class GuardrailBlocked(Exception):
    """A guardrail stopped the request: it triggered (400), or could not run (503: refused,
    not let through unchecked)."""

    def __init__(self, guardrail: str, stage: Stage, cannot_run: str | None = None) -> None:
        reason = f"could not run ({cannot_run})" if cannot_run else "blocked it"
        super().__init__(f"guardrail {guardrail!r} ({stage.value}) {reason}")
        self.status = 503 if cannot_run else 400

    def response(self) -> Response:
        return error(self.status, "guardrail_blocked", str(self))


class Refused(Exception):
    """The request ends here with an OpenAI-style error."""

    def __init__(
        self, status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.headers = headers

    def response(self) -> Response:
        return error(self.status, self.kind, str(self), self.headers)


def _no_constant(name: str) -> None:
    """NaN and Infinity are not JSON, though Python's parser reads them: refuse them."""
    raise ValueError(f"{name} is not JSON")


async def _json_body(request: Request) -> dict[str, Any]:
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


def _guardrails(call: Call, route: Route, stage: Stage) -> list[Guardrail]:
    found = (call.snapshot.guardrail(name) for name in route.spec.guardrails)
    return [g for g in found if g is not None and g.spec.stage is stage]


def _has_deep(call: Call, route: Route, stage: Stage) -> bool:
    return any(is_deep(g) for g in _guardrails(call, route, stage))


def _guard(
    call: Call, route: Route, stage: Stage, text: str, deep: bool = True, only_deep: bool = False
) -> str:
    """Run the route's guardrails of one stage; redact, or raise GuardrailBlocked. Each
    guardrail that triggers is recorded once per request. Without `deep`, model-based checks
    run their fast pass only; with `only_deep`, only they run."""
    for guardrail in _guardrails(call, route, stage):
        if only_deep and not is_deep(guardrail):
            continue
        name = guardrail.name
        try:
            result = check(guardrail, text, deep)
        except ConfigError as exc:  # its model is not installed
            raise GuardrailBlocked(name, stage, str(exc)) from exc
        if not result.triggered:
            continue
        action = guardrail.spec.action
        if name not in call.guardrails:
            call.guardrails.add(name)
            call.state.metrics.guardrail_triggers.labels(
                route=route.name, guardrail=name, stage=stage.value, action=action.value
            ).inc()
        if action is Action.BLOCK:
            raise GuardrailBlocked(name, stage)
        if action is Action.REDACT:
            text = result.text
    return text


def _guard_messages(call: Call, route: Route, messages: list[Any]) -> list[Any]:
    guarded = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message = {**message, "content": _guard(call, route, Stage.INPUT, message["content"])}
        elif isinstance(message, dict) and isinstance(message.get("content"), list):
            parts = [
                {**part, "text": _guard(call, route, Stage.INPUT, part["text"])}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part
                for part in message["content"]
            ]
            message = {**message, "content": parts}
        guarded.append(message)
    return guarded


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, state: State) -> Response:
    snapshot = state.snapshot  # the one configuration this request sees
    call = Call(state, snapshot, Caller(None), time.perf_counter())
    try:
        body = await _json_body(request)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Refused(
                400, "invalid_request_error", "messages must be a non-empty list of messages"
            )
        call.caller = _caller(request, snapshot)
        route = call.route = _route(snapshot, call.caller, body.get("model"))
        _admit(call, route)
        if _has_deep(call, route, Stage.INPUT):  # a classifier: off the event loop
            body["messages"] = await asyncio.to_thread(_guard_messages, call, route, messages)
        else:
            body["messages"] = _guard_messages(call, route, messages)
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
        answered = await _cascade(call, route, body)
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
                _relay(call, route, opened, body, lookup),
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


def _usage(call: Call, model: Model | None, body: dict[str, Any], data: dict[str, Any]) -> None:
    """Charge the upstream's usage, or a count of our own (marked estimated) when it sent none."""
    usage = data.get("usage")
    if isinstance(usage, dict) and "prompt_tokens" in usage:
        call.charge(model, int(usage["prompt_tokens"]), int(usage.get("completion_tokens", 0)))
        return
    estimate = _estimated_usage(body, _answer_text(data))
    call.estimated = True
    call.charge(model, estimate["prompt_tokens"], estimate["completion_tokens"])
    data["usage"] = estimate


def _guard_answer(call: Call, route: Route, data: dict[str, Any]) -> None:
    for choice in data.get("choices") or []:
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["content"] = _guard(call, route, Stage.OUTPUT, message["content"])


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
    _usage(call, call.model, body, data)
    try:
        if _has_deep(call, route, Stage.OUTPUT):
            await asyncio.to_thread(_guard_answer, call, route, data)
        else:
            _guard_answer(call, route, data)
    except GuardrailBlocked as exc:
        call.error = str(exc)
        call.finish(exc.status)
        return exc.response()
    data["model"] = route.name  # clients asked for the route; the header names the model
    await _store(call, route, lookup, data)
    call.answer = _answer_text(data)
    call.finish(200)
    return JSONResponse(data, headers=headers)


def _answer_text(data: dict[str, Any]) -> str:
    return "".join(
        str((c.get("message") or {}).get("content") or "")
        for c in data.get("choices") or []
        if isinstance(c, dict)
    )


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
    data = {**data, "model": route.name}
    call.answer = _answer_text(data)
    call.finish(200)
    if not stream:
        return JSONResponse(data, headers=headers)
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return StreamingResponse(
        completion_events(data, wants_usage), media_type="text/event-stream", headers=headers
    )


async def _cascade(call: Call, route: Route, body: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the fast model, with token logprobs; its answer when it is confident enough, else
    None (and the strong model answers). Its tokens are charged either way."""
    cascade = route.spec.cascade
    assert cascade is not None
    model = call.snapshot.model(cascade.fast)
    if model is None:
        return None
    call.model = model
    ask = {**upstream_body(model, body, stream=False), "stream": False, "logprobs": True}
    ask.pop("stream_options", None)
    try:
        response = await post(call.state, route, model, "/chat/completions", ask)
        try:
            data = json.loads(await response.aread())
        finally:
            await response.aclose()
        ok = response.status_code < 400 and isinstance(data, dict)
    except (UpstreamFailure, httpx.HTTPError, ValueError):
        ok, data = False, {}
    if ok:
        _usage(call, model, body, data)
    confidence = _confidence(data) if ok else None
    confident = confidence is not None and confidence >= cascade.confidence
    call.cascade = "fast" if confident else "escalated"
    call.state.metrics.cascade.labels(route=route.name, outcome=call.cascade).inc()
    if not confident:
        return None
    try:
        await asyncio.to_thread(_guard_answer, call, route, data)
    except GuardrailBlocked:
        return None  # the strong model's answer is checked in its own turn
    if not body.get("logprobs"):  # asked for the cascade's sake, not the client's
        for choice in data.get("choices") or []:
            if isinstance(choice, dict):
                choice.pop("logprobs", None)
    return dict(data)


def _confidence(data: dict[str, Any]) -> float | None:
    """The geometric mean probability of the answer's tokens: exp(mean logprob)."""
    values: list[float] = []
    for choice in data.get("choices") or []:
        content = ((choice or {}).get("logprobs") or {}).get("content") or []
        values += [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]
    if not values:
        return None
    return math.exp(sum(values) / len(values))


async def _relay(
    call: Call,
    route: Route,
    opened: OpenStream,
    body: dict[str, Any],
    lookup: Lookup | None,
) -> AsyncIterator[bytes]:
    """Relay the upstream's events, output guardrails applied over a window held across
    chunks, each chunk's model renamed to the route; usage counted when the upstream sends
    none, and sent to a client that asked for it."""
    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    guards: dict[int, StreamGuard] = {}
    texts: dict[int, list[str]] = {}
    first = opened.first_token_at
    last = first or 0.0
    pieces = 0
    usage: dict[str, Any] | None = None
    template: dict[str, Any] = {}
    status: int | str = 200

    guarded = bool(_guardrails(call, route, Stage.OUTPUT))
    deep = _has_deep(call, route, Stage.OUTPUT)

    async def released(index: int, text: str, final: bool) -> str:
        """What of a choice's text may go out now: the fast checks run over a window held
        across chunks; a classifier (deep) judges each whole sentence once, in a thread."""
        if not guarded:  # nothing to hold text back for
            texts.setdefault(index, []).append(text)
            return text
        guard = guards.setdefault(
            index,
            StreamGuard(lambda t: _guard(call, route, Stage.OUTPUT, t, deep=False), sentences=deep),
        )
        out = guard.feed(text) + (guard.flush() if final else "")
        if out and deep:
            await asyncio.to_thread(_guard, call, route, Stage.OUTPUT, out, True, True)
        if out:
            texts.setdefault(index, []).append(out)
        return out

    try:
        async for line in opened.lines():
            if not line.startswith("data:"):
                continue
            payload = line.removeprefix("data:").strip()
            if payload == "[DONE]":  # read on to the end: a drained connection is reused
                continue
            try:
                chunk = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            chunk["model"] = route.name
            template = {k: chunk[k] for k in ("id", "object", "created") if k in chunk}
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
            out_choices = []
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                index = int(choice.get("index", 0))
                delta = choice["delta"] = choice.get("delta") or {}
                content = delta.get("content")
                text = content if isinstance(content, str) else ""
                if text:
                    now = time.perf_counter()
                    first = first if first is not None else now
                    last = now
                    pieces += 1
                final = choice.get("finish_reason") is not None
                if text or final:
                    delta["content"] = await released(index, text, final)
                    if not delta["content"] and not final and len(delta) == 1:
                        continue  # held back: nothing to send for this choice yet
                out_choices.append(choice)
            if chunk.get("choices") and not out_choices:
                continue
            chunk["choices"] = out_choices
            if out_choices or (wants_usage and usage is not None and "usage" in chunk):
                yield event(chunk)
        for index, guard in guards.items():  # the stream ended: what is still held back
            rest = guard.flush()
            if rest and deep:
                await asyncio.to_thread(_guard, call, route, Stage.OUTPUT, rest, True, True)
            if rest:
                texts.setdefault(index, []).append(rest)
                tail = {"index": index, "delta": {"content": rest}}
                yield event({**template, "model": route.name, "choices": [tail]})
        if usage is None or "prompt_tokens" not in usage:
            usage = _estimated_usage(body, "".join("".join(p) for p in texts.values()))
            call.estimated = True
            if wants_usage:
                yield event({**template, "model": route.name, "choices": [], "usage": usage})
    except GuardrailBlocked as exc:
        status = exc.status
        call.error = str(exc)
        yield event({"error": {"message": str(exc), "type": "guardrail_blocked", "code": status}})
    except httpx.HTTPError:
        status = "stream_error"
        call.error = "upstream stream broke"
        yield event({"error": {"message": call.error, "type": "upstream_error", "code": 502}})
    finally:  # also when the client went away: no yield here, only the accounting
        await opened.response.aclose()
        answer = {i: "".join(parts) for i, parts in sorted(texts.items())}
        call.answer = "".join(answer.values())
        if first is not None:
            call.ttft = first - call.started
            labels = call.labels()
            call.state.metrics.ttft.labels(**labels).observe(call.ttft)
            if pieces > 1:
                call.state.metrics.tpot.labels(**labels).observe((last - first) / (pieces - 1))
        if usage is None or "prompt_tokens" not in usage:  # ended before its usage came
            usage = _estimated_usage(body, call.answer)
            call.estimated = True
        call.charge(call.model, int(usage["prompt_tokens"]), int(usage.get("completion_tokens", 0)))
        if status == 200 and lookup is not None and call.cache == "miss":
            choices = [
                {
                    "index": i,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": t},
                }
                for i, t in answer.items()
            ]
            await call.state.cache.put(
                route,
                lookup,
                {**template, "object": "chat.completion", "model": route.name, "choices": choices},
            )
        call.finish(status)
    yield b"data: [DONE]\n\n"


def _estimated_usage(body: dict[str, Any], answer: str) -> dict[str, Any]:
    """Usage counted here, for an upstream that sent none (marked so)."""
    prompt, completion = tokens.prompt_tokens(body["messages"]), tokens.count(answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "estimated": True,
    }


@router.post("/v1/embeddings")
async def embeddings(request: Request, state: State) -> Response:
    snapshot = state.snapshot
    call = Call(state, snapshot, Caller(None), time.perf_counter())
    try:
        body = await _json_body(request)
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
