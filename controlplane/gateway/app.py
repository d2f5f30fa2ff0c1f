"""Assemble the gateway: admin API, data plane, /metrics and health, and run it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controlplane import __version__
from controlplane.gateway import admin, proxy
from controlplane.gateway.state import GatewayState, load_snapshot
from controlplane.http_limits import Limits, detail_body, protect
from controlplane.http_server import serve_http

UPSTREAM_IDLE_SECONDS = 2.0


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """Refusals in the format of the API asked: OpenAI's error object on the data plane."""
    if path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "server_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return detail_body(path, status, message)


def create_app(
    admin_token: str, state_file: Path | None = None, limits: Limits | None = None
) -> FastAPI:
    state = GatewayState(admin_token=admin_token, state_file=state_file)
    if state_file is not None:
        state.publish(load_snapshot(state_file))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Model servers on uvicorn (vLLM among them) drop idle connections after 5 s; a POST
        # sent as one closes is neither answered nor retried, so let ours go well before.
        limits = httpx.Limits(
            max_connections=512,
            max_keepalive_connections=128,
            keepalive_expiry=UPSTREAM_IDLE_SECONDS,
        )
        async with httpx.AsyncClient(limits=limits) as client:
            state.client = client
            yield

    app = FastAPI(
        title="controlplane gateway",
        version=__version__,
        description="OpenAI-compatible LLM gateway with an admin API for controlplane.",
        lifespan=lifespan,
    )
    app.state.gateway = state
    protect(app, limits or Limits(), error_body)
    app.include_router(admin.router)
    app.include_router(proxy.router)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "configVersion": state.snapshot.version}

    return app


def serve(host: str, port: int, admin_token: str, state_file: Path | None, limits: Limits) -> None:
    app = create_app(admin_token, state_file, limits)
    serve_http(app, host, port)
