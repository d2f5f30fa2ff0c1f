"""SIMULATOR of a GPU model server, for tests and the demo. Not a model; it serves no weights.

An OpenAI-compatible stand-in for vLLM and the like, with a set time to first token, time per
output token, number of output tokens and error rate, so tests and the demo control latency and
failures exactly (a canary that is slower on purpose, an upstream that fails). Its answer starts
by echoing the last user message, so tests can see what the gateway sent upstream.

It can also behave as real servers do where the gateway must cope: stream the echo in small
chunks (`chunk_chars`), send no usage in streams (llama.cpp), answer with token logprobs whose
mean probability is `confidence` (lower for prompts that contain "hard"), and serve
deterministic embeddings.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse


@dataclass(frozen=True)
class SimulatorSettings:
    ttft: float = 0.05
    tpot: float = 0.01
    tokens: int = 16
    error_rate: float = 0.0
    seed: int | None = None
    name: str = "simulated-model"
    chunk_chars: int = 0  # 0: the echo is one chunk; N: pieces of N characters
    stream_usage: bool = True  # False: like llama.cpp, no usage chunk even when asked
    confidence: float = 0.9  # mean token probability of answers; prompts with "hard": a third
    api_key: str | None = None  # when set, requests must carry it as a bearer token
    reply: str | None = None  # when set, every answer is this text (a judge's score, say)


def create_simulator(settings: SimulatorSettings) -> FastAPI:
    app = FastAPI(title="controlplane upstream SIMULATOR (not a model server)")
    rng = random.Random(settings.seed)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "simulator": "true"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": settings.name, "object": "model", "created": 0, "owned_by": "simulator"}
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        if (
            settings.api_key
            and request.headers.get("authorization") != f"Bearer {settings.api_key}"
        ):
            return JSONResponse({"error": {"message": "bad API key"}}, status_code=401)
        if "max_completion_tokens" in body:  # as llama.cpp and older vLLM: max_tokens only
            refusal = {"message": "unknown field max_completion_tokens", "type": "bad_request"}
            return JSONResponse({"error": refusal}, status_code=400)
        if rng.random() < settings.error_rate:
            return JSONResponse(
                {"error": {"message": "simulated failure", "type": "server_error"}}, status_code=500
            )
        prompt = _last_user_text(body.get("messages") or [])
        size = settings.chunk_chars
        echo = [prompt[i : i + size] for i in range(0, len(prompt), size)] if size else [prompt]
        pieces = (echo or [""]) + [f" tok{i}" for i in range(max(settings.tokens - 1, 0))]
        if settings.reply is not None:
            pieces = [settings.reply]
        prompt_tokens = sum(
            len(str(m.get("content", "")).split()) for m in body["messages"] if isinstance(m, dict)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        model = str(body.get("model", settings.name))
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            include_usage = include_usage and settings.stream_usage
            return StreamingResponse(
                _stream(settings, ident, model, pieces, usage if include_usage else None),
                media_type="text/event-stream",
            )
        await asyncio.sleep(settings.ttft + settings.tpot * max(len(pieces) - 1, 0))
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "".join(pieces)},
        }
        if body.get("logprobs"):
            probability = settings.confidence / (3 if "hard" in prompt.lower() else 1)
            logprob = math.log(max(probability, 1e-6))
            choice["logprobs"] = {
                "content": [{"token": p, "logprob": logprob, "top_logprobs": []} for p in pieces]
            }
        return JSONResponse(
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": f"sim:{model}",  # the model name it was asked for
                "choices": [choice],
                "usage": usage,
            }
        )

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        body = await request.json()
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(text))}
            for i, text in enumerate(texts)
        ]
        tokens = sum(len(str(t).split()) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model", settings.name)),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return app


def _vector(text: str, dimensions: int = 8) -> list[float]:
    """A deterministic unit vector per text: the same text always embeds the same."""
    digest = hashlib.sha256(text.encode()).digest()
    values = [b - 127.5 for b in digest[:dimensions]]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


async def _stream(
    settings: SimulatorSettings,
    ident: str,
    model: str,
    pieces: list[str],
    usage: dict[str, int] | None,
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        chunk = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(chunk)}\n\n".encode()

    await asyncio.sleep(settings.ttft)
    yield event({"role": "assistant", "content": pieces[0]})
    for piece in pieces[1:]:
        await asyncio.sleep(settings.tpot)
        yield event({"content": piece})
    yield event({}, "stop")
    if usage is not None:
        chunk = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def serve_simulator(host: str, port: int, settings: SimulatorSettings) -> None:
    uvicorn.run(
        create_simulator(settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=5,  # vLLM's default, which the gateway's upstream pool must cope with
    )
