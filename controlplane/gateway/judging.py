"""The judge workers: grade queued answers through the judge route, off the request path.

Each job is asked of the judge route as a request of its own: its arm (by the judged request's
id), its model and fallbacks, its timeout, budgets of its route and models. Its tokens and cost
are counted on the judge route, and its line in the request log says which request it graded
(`judges`). The score goes to `llm_gateway_judge_score` under the judged request's route,
variant and model; what became of each job to `llm_gateway_judge_total{route,outcome}`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx

from controlplane.gateway.auth import Caller
from controlplane.gateway.calls import Call, answer_text, charge_usage
from controlplane.gateway.judges import JudgeJob, JudgeQueue, judge_messages, parse_score
from controlplane.gateway.routing import candidates, choose_arm
from controlplane.gateway.state import GatewayState
from controlplane.gateway.upstream import UpstreamFailure, error_message, post, upstream_body

log = logging.getLogger(__name__)


async def judge_answers(state: GatewayState, queue: JudgeQueue) -> None:
    """One worker: grade queued answers one after another, until cancelled."""
    while True:
        job = await queue.take()
        try:
            outcome = await grade(state, job)
        except Exception:  # a bug here must not stop the grading of the next answers
            log.exception("grading request %s failed", job.request_id)
            outcome = "failed"
        state.metrics.judge.labels(route=job.labels["route"], outcome=outcome).inc()


async def grade(state: GatewayState, job: JudgeJob) -> str:
    """Ask the judge route about one answer and record its score; the outcome: `scored`,
    `unparsed` (the reply held no 0..1 score) or `failed` (no model of the judge route
    answered)."""
    snapshot = job.snapshot
    route = snapshot.route(job.judge.route)
    if route is None:  # validation refuses this; the gateway may still be sent it
        log.warning("route %s has no judge route %s", job.labels["route"], job.judge.route)
        return "failed"
    call = Call(state, snapshot, Caller(None), time.perf_counter(), route=route)
    call.judges = job.request_id
    call.arm = choose_arm(route, job.request_id)
    body: dict[str, Any] = {
        "messages": judge_messages(job.judge.rubric, job.conversation, job.answer),
        "temperature": 0,
    }
    call.messages = body["messages"]
    reason = "no model"
    status = 502
    for name in candidates(route, call.arm):
        model = snapshot.model(name)
        if model is None:
            continue
        call.model = model
        blocked = state.ledger.verdict(snapshot.budgets, call.usage(model)).blocked_by
        if blocked is not None:
            reason, status = f"budget {blocked.name!r} is spent", 429
            continue
        try:
            upstream = await post(
                state, route, model, "/chat/completions", upstream_body(model, body, False)
            )
        except UpstreamFailure as exc:
            reason, status = str(exc), exc.status or 502
            call.fallbacks.append(name)
            continue
        try:
            content = await upstream.aread()
        except httpx.HTTPError as exc:
            reason, status = f"the answer was cut off ({type(exc).__name__})", 502
            continue
        finally:
            await upstream.aclose()
        if upstream.status_code >= 400:
            reason = error_message(content) or f"HTTP {upstream.status_code}"
            status = upstream.status_code
            break
        data = _json_object(content)
        if data is None:
            reason, status = "the answer is not JSON", 502
            continue
        charge_usage(call, model, body, data)
        call.answer = answer_text(data)
        call.finish(200)
        score = parse_score(call.answer)
        if score is None:
            log.warning(
                "the judge of request %s replied with no 0..1 score (%d characters)",
                job.request_id,
                len(call.answer),
            )
            return "unparsed"
        state.metrics.judge_score.labels(**job.labels).observe(score)
        return "scored"
    call.error = reason
    call.finish(status)
    log.warning("the judge of request %s did not answer: %s", job.request_id, reason)
    return "failed"


def _json_object(content: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
