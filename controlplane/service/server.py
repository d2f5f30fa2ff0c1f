"""`controlplane serve`: the API, the reconciler and the APScheduler poller in one process."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from controlplane.credentials import resolve_secret
from controlplane.engine import Promoter, Rollbacker
from controlplane.engine.notifications import Notifier
from controlplane.history import Trigger
from controlplane.http_limits import Limits
from controlplane.http_server import serve_http
from controlplane.logs import configure_logging, log_failure
from controlplane.service.api import create_api
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.policies import PolicyRunner
from controlplane.service.reconciler import Reconciler
from controlplane.service.settings import ServiceSettings

log = logging.getLogger("controlplane.serve")


def serve(settings: ServiceSettings) -> None:
    configure_logging(json_lines=True)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    token_ref, token_source = settings.credential("api-token", settings.api_token)
    secret_ref, secret_source = settings.credential("webhook-secret", settings.webhook_secret)
    api_token, webhook_secret = resolve_secret(token_ref), resolve_secret(secret_ref)
    mirror = settings.mirror()
    history = settings.history()
    reconciler = Reconciler(
        mirror=mirror,
        history=history,
        metrics=ControllerMetrics(),
        environments=settings.environments,
        attempts=settings.apply_attempts,
        retry_base=settings.retry_base_seconds,
        retry_max=settings.retry_max_seconds,
        notifier=Notifier(history),  # reconciler.notifier: the policy runner's too
    )
    scheduler = BackgroundScheduler(timezone="UTC")
    rollbacker = Rollbacker(
        mirror, reconciler.history, settings.workdir / "rollbacks", settings.rollback_dry_run
    )
    promoter = Promoter(
        mirror, reconciler.history, settings.workdir / "promotions", settings.rollback_dry_run
    )
    runner = PolicyRunner(
        reconciler,
        reconciler.history,
        reconciler.metrics,
        scheduler,
        rollbacker=rollbacker,
        promoter=promoter,
    )
    reconciler.on_synced = lambda _: runner.sync_jobs()  # policies follow what is live at once

    def poll() -> None:
        try:
            reconciler.trigger_all(Trigger.POLL)
            runner.sync_jobs()  # policies follow what is live
        except Exception as exc:  # the next poll tries again
            log_failure(log, "poll failed", exc)

    scheduler.add_job(
        poll,
        "interval",
        id="poll",
        seconds=settings.poll_interval,
        coalesce=True,
        max_instances=1,
    )
    log.info(
        "controlplane serving",
        extra={
            "repo": settings.repo,
            "branch": settings.branch,
            "api": f"http://{settings.host}:{settings.port}",
            "apiToken": token_source,
            "webhookSecret": secret_source,
            "pollSeconds": settings.poll_interval,
            "history": settings.history_url.split("://")[0],
            "rollbackDryRun": settings.rollback_dry_run,
        },
    )
    scheduler.start()
    reconciler.trigger_all(Trigger.STARTUP)
    scheduler.add_job(runner.sync_jobs, id="policies-at-start")  # once, soon after startup
    try:
        serve_http(
            create_api(
                reconciler,
                api_token,
                webhook_secret,
                runner,
                Limits(max_body_bytes=settings.max_body_bytes),
                settings.webhook_replay_seconds,
            ),
            settings.host,
            settings.port,
        )
    finally:
        scheduler.shutdown(wait=False)
        reconciler.shutdown()
