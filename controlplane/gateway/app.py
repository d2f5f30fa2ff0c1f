"""Assemble the gateway: admin API, data plane, /metrics and health, and run it with uvicorn."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from controlplane import __version__
from controlplane.errors import ConfigError
from controlplane.gateway import admin, feedback, proxy
from controlplane.gateway.audit import AuditLog, AuditSettings
from controlplane.gateway.budgets import SpendLedger
from controlplane.gateway.caching import ResponseCache
from controlplane.gateway.judges import WORKERS, JudgeQueue
from controlplane.gateway.judging import judge_answers
from controlplane.gateway.state import GatewayState, load_snapshot
from controlplane.http_limits import Limits, detail_body, protect
from controlplane.http_server import serve_http
from controlplane.logs import configure_logging

UPSTREAM_IDLE_SECONDS = 2.0
log = logging.getLogger(__name__)


def error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """Refusals in the format of the API asked: OpenAI's error object on the data plane."""
    if path.startswith("/v1/"):
        kind = "invalid_request_error" if status < 500 else "server_error"
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
        return {
            "error": {
                "message": message,
                "type": kind,
                "param": None,
                "code": code.get(status, str(status)),
            }
        }
    return detail_body(path, status, message)


def create_app(
    admin_token: str,
    state_file: Path | None = None,
    limits: Limits | None = None,
    audit: AuditSettings | None = None,
) -> FastAPI:
    """The gateway. With a state file, the config, the budgets' spend and the cache are kept
    beside it across restarts; without one, in memory only."""
    state = GatewayState(admin_token=admin_token, state_file=state_file)
    if state_file is not None:
        state.publish(load_snapshot(state_file))
        state.ledger = SpendLedger(state_file.with_name(state_file.name + ".spend.json"))
        state.cache = ResponseCache(state_file.with_name(state_file.name + ".cache.npz"))
    if audit is not None:
        try:
            state.audit = AuditLog(audit)
        except OSError as exc:
            raise ConfigError(f"the request log {audit.path}: {exc.strerror}") from exc

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
            queue = state.judges = JudgeQueue()
            judges = [
                asyncio.create_task(judge_answers(state, queue), name=f"judge-{i}")
                for i in range(WORKERS)
            ]
            try:
                yield
            finally:
                state.judges = None  # answers given from now on are not graded
                for task in judges:
                    task.cancel()
                await asyncio.gather(*judges, return_exceptions=True)
                state.ledger.save()
                state.cache.close()
                if state.audit is not None:
                    state.audit.close()

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
    app.include_router(feedback.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown paths and methods too answer in the format of the API asked."""
        body = error_body(request.url.path, exc.status_code, str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        """A bug answers 500 in the API's format; the traceback goes to the log, not the client."""
        log.error("internal error on %s", request.url.path, exc_info=exc)
        body = error_body(request.url.path, 500, f"internal error: {type(exc).__name__}")
        return JSONResponse(body, status_code=500)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "configVersion": state.snapshot.version}

    return app


def serve(
    host: str,
    port: int,
    admin_token: str,
    state_file: Path | None,
    limits: Limits,
    audit: AuditSettings | None,
) -> None:
    configure_logging(json_lines=True)  # a service's log: one JSON object per event
    app = create_app(admin_token, state_file, limits, audit)
    serve_http(app, host, port)
