"""A streamed answer relayed to the client: output guardrails over a window held across
chunks, each chunk's model renamed to the route, usage counted when the upstream sends none,
the answer cached, and the request accounted for even when the client goes away."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from controlplane.gateway.caching import Lookup
from controlplane.gateway.calls import Call, estimated_usage
from controlplane.gateway.guarding import GuardrailBlocked, guard, has_deep, stage_guardrails
from controlplane.gateway.sse import event
from controlplane.gateway.streaming import StreamGuard
from controlplane.gateway.upstream import OpenStream
from controlplane.spec import Route
from controlplane.spec.guardrail import Stage


async def relay(
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
    windows: dict[int, StreamGuard] = {}
    texts: dict[int, list[str]] = {}
    first = opened.first_token_at
    last = first or 0.0
    pieces = 0
    usage: dict[str, Any] | None = None
    template: dict[str, Any] = {}
    status: int | str = 200

    guarded = bool(stage_guardrails(call, route, Stage.OUTPUT))
    deep = has_deep(call, route, Stage.OUTPUT)

    async def released(index: int, text: str, final: bool) -> str:
        """What of a choice's text may go out now: the fast checks run over a window held
        across chunks; a classifier (deep) judges each whole sentence once, in a thread."""
        if not guarded:  # nothing to hold text back for
            texts.setdefault(index, []).append(text)
            return text
        window = windows.setdefault(
            index,
            StreamGuard(lambda t: guard(call, route, Stage.OUTPUT, t, deep=False), sentences=deep),
        )
        out = window.feed(text) + (window.flush() if final else "")
        if out and deep:
            await asyncio.to_thread(guard, call, route, Stage.OUTPUT, out, True, True)
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
            chunk["id"] = call.request_id
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
        for index, window in windows.items():  # the stream ended: what is still held back
            rest = window.flush()
            if rest and deep:
                await asyncio.to_thread(guard, call, route, Stage.OUTPUT, rest, True, True)
            if rest:
                texts.setdefault(index, []).append(rest)
                tail = {"index": index, "delta": {"content": rest}}
                yield event({**template, "model": route.name, "choices": [tail]})
        if usage is None or "prompt_tokens" not in usage:
            usage = estimated_usage(body, "".join("".join(p) for p in texts.values()))
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
            usage = estimated_usage(body, call.answer)
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
