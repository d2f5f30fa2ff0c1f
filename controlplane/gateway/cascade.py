"""The model cascade: the fast model answers first, and its answer stands when its token
probabilities say it is confident; otherwise the strong model is asked (by the caller)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx

from controlplane.gateway.calls import Call, charge_usage
from controlplane.gateway.guarding import GuardrailBlocked, guard_answer
from controlplane.gateway.upstream import UpstreamFailure, post, upstream_body
from controlplane.spec import Route


async def ask_fast(call: Call, route: Route, body: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the fast model, with token logprobs; its answer when it is confident enough, else
    None (and the strong model answers). Its tokens are charged either way."""
    cascade = route.spec.cascade
    assert cascade is not None
    model = call.snapshot.model(cascade.fast)
    if model is None:
        return None
    call.model = model
    ask = {**upstream_body(model, body, stream=False), "stream": False, "logprobs": True}
    ask.setdefault("top_logprobs", 1)  # llama.cpp sends token logprobs only when asked for these
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
        charge_usage(call, model, body, data)
    sure = confidence(data) if ok else None
    confident = sure is not None and sure >= cascade.confidence
    call.cascade = "fast" if confident else "escalated"
    call.state.metrics.cascade.labels(route=route.name, outcome=call.cascade).inc()
    if not confident:
        return None
    try:
        await asyncio.to_thread(guard_answer, call, route, data)
    except GuardrailBlocked:
        return None  # the strong model's answer is checked in its own turn
    if not body.get("logprobs"):  # asked for the cascade's sake, not the client's
        for choice in data.get("choices") or []:
            if isinstance(choice, dict):
                choice.pop("logprobs", None)
    return dict(data)


def confidence(data: dict[str, Any]) -> float | None:
    """The geometric mean probability of the answer's tokens: exp(mean logprob)."""
    values: list[float] = []
    for choice in data.get("choices") or []:
        content = ((choice or {}).get("logprobs") or {}).get("content") or []
        values += [float(t["logprob"]) for t in content if isinstance(t, dict) and "logprob" in t]
    if not values:
        return None
    return math.exp(sum(values) / len(values))
