"""The service's HTTP API (FastAPI): status, plan, history, manual sync, signed webhooks, metrics.

Everything under /api/v1 needs `Authorization: Bearer <token>`. The webhook is authenticated by
its HMAC-SHA256 signature instead (X-Hub-Signature-256 from GitHub and Gitea, or X-Gitea-Signature),
compared in constant time. Health endpoints are open. Errors become HTTP statuses in one place
(`STATUS_FOR`): an answer is JSON with a `detail`, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controlplane import __version__
from controlplane.engine.experiments import live_experiment_report
from controlplane.errors import (
    ConfigError,
    ControlPlaneError,
    HistoryError,
    RepoError,
    TargetError,
)
from controlplane.history import Trigger
from controlplane.http_limits import Limits, protect
from controlplane.render import render_plan_json
from controlplane.render.experiment import render_experiment_json
from controlplane.service.deliveries import RecentDeliveries, delivery_id
from controlplane.service.policies import PolicyRunner
from controlplane.service.reconciler import Reconciler, utc_now
from controlplane.signatures import verify_signature

log = logging.getLogger("controlplane.api")
# The one map from errors to HTTP statuses: what the request asked for cannot be had (409), or a
# system the service depends on is down (503). Anything else is a 500 without details.
STATUS_FOR: tuple[tuple[type[ControlPlaneError], int], ...] = (
    (ConfigError, 409),
    (TargetError, 503),
    (RepoError, 503),
    (HistoryError, 503),
    (ControlPlaneError, 500),
)
LIMIT = {"history": 500, "results": 1000, "rollbacks": 500, "notifications": 500}


def create_api(
    reconciler: Reconciler,
    api_token: str,
    webhook_secret: str,
    policies: PolicyRunner | None = None,
    limits: Limits | None = None,
    replay_seconds: float = 600,
) -> FastAPI:
    app = FastAPI(
        title="controlplane",
        version=__version__,
        description="GitOps control plane for LLM serving: environment status, plans, history.",
    )
    protect(app, limits or Limits(max_body_bytes=5 * 1024 * 1024))

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        presented = (authorization or "").removeprefix("Bearer ").strip()
        if not presented or not hmac.compare_digest(presented.encode(), api_token.encode()):
            raise HTTPException(
                401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
            )

    @app.exception_handler(ControlPlaneError)
    async def failed(request: Request, exc: ControlPlaneError) -> JSONResponse:
        status = next(code for kind, code in STATUS_FOR if isinstance(exc, kind))
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    for router in (_environments(reconciler), _policies(reconciler, policies)):
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(require_token)])
    app.include_router(_webhooks(reconciler, webhook_secret, RecentDeliveries(replay_seconds)))
    app.include_router(_health(reconciler))
    return app


def _environments(reconciler: Reconciler) -> APIRouter:
    api = APIRouter()

    def known(environment: str) -> None:
        if environment not in reconciler.environments():
            raise HTTPException(404, f"no environment {environment!r}")

    def describe(environment: str) -> dict[str, Any]:
        status = reconciler.status.get(environment)
        live = reconciler.history.last_success(environment)
        last = reconciler.history.last(environment)
        return {
            "name": environment,
            **(status.to_dict() if status else {"sync": "unknown", "message": ""}),
            "liveCommit": live.commit_sha if live else None,
            "lastAttempt": last.to_dict() if last else None,
            "reconciling": reconciler.busy(environment),
        }

    @api.get("/environments")
    def list_environments() -> dict[str, Any]:
        return {"environments": [describe(e) for e in reconciler.environments()]}

    @api.get("/environments/{environment}")
    def get_environment(environment: str) -> dict[str, Any]:
        known(environment)
        return describe(environment)

    @api.get("/environments/{environment}/plan")
    def get_plan(environment: str) -> Response:
        known(environment)
        plans = reconciler.pending_plans(environment)
        body = [json.loads(render_plan_json(p)) for p in plans]
        return JSONResponse({"environment": environment, "plans": body})

    @api.get("/environments/{environment}/history")
    def get_history(environment: str, limit: int = 50) -> dict[str, Any]:
        known(environment)
        attempts = reconciler.history.attempts(environment, _bounded(limit, "history"))
        return {"environment": environment, "attempts": [a.to_dict() for a in attempts]}

    @api.get("/environments/{environment}/notifications")
    def get_notifications(environment: str, limit: int = 50) -> dict[str, Any]:
        known(environment)
        found = reconciler.history.notifications(
            environment, limit=_bounded(limit, "notifications")
        )
        return {"environment": environment, "notifications": [n.to_dict() for n in found]}

    @api.get("/environments/{environment}/experiments/{name}")
    def get_experiment(environment: str, name: str) -> Response:
        known(environment)
        report = live_experiment_report(
            reconciler.history, reconciler.mirror.path, environment, name, utc_now()
        )
        if report is None:
            raise HTTPException(404, f"no Experiment {name!r} in the commit live in {environment}")
        return JSONResponse(json.loads(render_experiment_json(report)))

    @api.post("/environments/{environment}/sync", status_code=202)
    def sync(environment: str) -> dict[str, str]:
        known(environment)
        reconciler.trigger(environment, Trigger.MANUAL)
        return {"environment": environment, "status": "sync requested"}

    return api


def _policies(reconciler: Reconciler, policies: PolicyRunner | None) -> APIRouter:
    api = APIRouter()

    @api.get("/policies")
    def list_policies() -> dict[str, Any]:
        found = []
        for environment in reconciler.environments():
            for policy in policies.policies(environment) if policies else []:
                latest = reconciler.history.evaluations(
                    policy.name, limit=200, environment=environment
                )
                checks: dict[tuple[str, str], Any] = {}
                for result in latest:  # newest first: keep the first seen per check
                    checks.setdefault(
                        (result.check, result.route),
                        {
                            "check": result.check,
                            "route": result.route,
                            "outcome": result.outcome.value,
                            "at": result.at.isoformat(),
                            "reason": result.reason,
                            "failing": policies.failing(policy, result) if policies else False,
                        },
                    )
                found.append(
                    {
                        "name": policy.name,
                        "kind": policy.KIND,
                        "environment": environment,
                        "interval": policy.spec.interval.total_seconds(),
                        "failAfter": policy.spec.fail_after,
                        "checks": list(checks.values()),
                    }
                )
        return {"policies": found}

    @api.get("/policies/{name}/results")
    def policy_results(name: str, limit: int = 50) -> dict[str, Any]:
        results = reconciler.history.evaluations(name, limit=_bounded(limit, "results"))
        return {"policy": name, "results": [r.model_dump(mode="json") for r in results]}

    @api.get("/rollbacks")
    def rollbacks(
        environment: str | None = None, policy: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        found = reconciler.history.rollbacks(
            environment, policy, limit=_bounded(limit, "rollbacks")
        )
        return {"rollbacks": [r.to_dict() for r in found]}

    @api.get("/promotions")
    def promotions(
        environment: str | None = None, kind: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        found = reconciler.history.promotions(environment, kind, limit=_bounded(limit, "rollbacks"))
        return {"promotions": [p.to_dict() for p in found]}

    return api


def _webhooks(
    reconciler: Reconciler, webhook_secret: str, deliveries: RecentDeliveries
) -> APIRouter:
    api = APIRouter()

    @api.post("/webhooks/git", status_code=202)
    async def webhook(request: Request) -> dict[str, Any]:
        body = await request.body()
        signature = request.headers.get("x-hub-signature-256") or request.headers.get(
            "x-gitea-signature"
        )
        if not verify_signature(webhook_secret, body, signature):
            reconciler.metrics.webhooks.labels("bad-signature").inc()
            log.warning("webhook refused: missing or bad signature")
            raise HTTPException(401, "missing or invalid X-Hub-Signature-256")
        delivery = delivery_id(request.headers)
        if delivery is not None and deliveries.replayed(delivery):
            reconciler.metrics.webhooks.labels("replayed").inc()
            return {"status": "ignored", "reason": f"delivery {delivery} was already received"}
        try:
            event = json.loads(body or b"{}")
        except ValueError as exc:
            reconciler.metrics.webhooks.labels("bad-payload").inc()
            raise HTTPException(400, "the payload is not JSON") from exc
        ref = event.get("ref") if isinstance(event, dict) else None
        branch = f"refs/heads/{reconciler.mirror.branch}"
        if ref is not None and ref != branch:
            reconciler.metrics.webhooks.labels("ignored").inc()
            return {"status": "ignored", "reason": f"push to {ref}, not {branch}"}
        reconciler.metrics.webhooks.labels("accepted").inc()
        reconciler.trigger_all(Trigger.WEBHOOK)
        return {"status": "reconcile requested"}

    return api


def _health(reconciler: Reconciler) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    def readyz() -> Response:
        ready = reconciler.mirror.ready
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @api.get("/metrics")
    def metrics() -> Response:
        return Response(
            generate_latest(reconciler.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return api


def _bounded(limit: int, what: str) -> int:
    """A page size the caller asked for, kept between 1 and the endpoint's maximum."""
    return max(1, min(limit, LIMIT[what]))
