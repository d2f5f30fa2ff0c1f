"""User feedback on answers: `POST /v1/feedback`, counted under the answer's route, variant and
model.

    {"request_id": "req-…", "rating": "up" | "down"}     -> llm_gateway_feedback_total{rating}
    {"request_id": "req-…", "score": 0.0 … 1.0}          -> llm_gateway_feedback_score
    optional "comment": the request log only (at its content level), never a metric

The request id is the gateway's (`x-request-id` of the answer). Only the consumer that got the
answer may rate it, with any of its keys; an answer given without a key, without one. Each
answer is rated once (409 after), within `answered.FEEDBACK_WINDOW` of being given. An unknown
id, an expired one and another consumer's look the same (404), so nothing leaks about other
consumers' requests.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controlplane.gateway.admin import gateway_state
from controlplane.gateway.answered import FEEDBACK_WINDOW, Answered
from controlplane.gateway.auth import Caller, Denied, identify
from controlplane.gateway.proxy import Refused, json_body
from controlplane.gateway.state import GatewayState

router = APIRouter()
State = Annotated[GatewayState, Depends(gateway_state)]


class Feedback(BaseModel):
    """The body of POST /v1/feedback: a rating or a score, not both."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    request_id: str = Field(min_length=1, max_length=128)
    rating: Literal["up", "down"] | None = None
    score: float | None = Field(default=None, ge=0, le=1)
    comment: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _one_judgement(self) -> Self:
        if (self.rating is None) == (self.score is None):
            raise ValueError('give either "rating" ("up" or "down") or "score" (0 to 1)')
        return self


def read_feedback(body: dict[str, Any]) -> Feedback:
    """The feedback in a JSON body; Refused (400) naming the first field that is wrong, without
    echoing what was sent."""
    try:
        return Feedback.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"])[:64]  # a key may be any size
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        raise Refused(400, "invalid_request_error", message, param=field or None) from exc


@router.post(
    "/v1/feedback",
    openapi_extra={  # the body is read by hand, so that every refusal is OpenAI's error object
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Feedback.model_json_schema()}},
        }
    },
)
async def give_feedback(request: Request, state: State) -> Response:
    """Rate an answer the caller got: a thumb up or down, or a score from 0 to 1."""
    try:
        caller = _caller(request, state)
        feedback = read_feedback(await json_body(request))
        answered = _rate(state, caller, feedback.request_id)
    except Refused as refused:
        return refused.response()
    m = state.metrics
    labels = answered.labels()
    if feedback.rating is not None:
        m.feedback.labels(**labels, rating=feedback.rating).inc()
    if feedback.score is not None:
        m.feedback_score.labels(**labels).observe(feedback.score)
    _log(state, caller, answered, feedback)
    given: dict[str, Any] = {"object": "feedback", "request_id": feedback.request_id}
    given.update({"rating": feedback.rating} if feedback.rating else {"score": feedback.score})
    return JSONResponse(given)


def _caller(request: Request, state: GatewayState) -> Caller:
    try:
        return identify(request.headers.get("authorization"), state.snapshot.keys)
    except Denied as exc:
        state.metrics.unauthorized.labels(status=str(exc.status)).inc()
        raise Refused(exc.status, exc.kind, str(exc)) from exc


def _rate(state: GatewayState, caller: Caller, request_id: str) -> Answered:
    """The answer this caller may rate now, marked rated; Refused otherwise."""
    remembered = state.recent.get(request_id)
    consumer = caller.consumer.name if caller.consumer is not None else None
    own = remembered is not None and remembered.answered.consumer == consumer
    if consumer is None and not own:  # the same for an unknown id and another's answer
        state.metrics.unauthorized.labels(status="401").inc()
        raise Refused(401, "invalid_api_key", "an API key is required to rate this answer")
    if remembered is None or not own:
        hours = FEEDBACK_WINDOW / 3600
        raise Refused(
            404,
            "not_found",
            f"no answer with request id {request_id!r} to rate (answers can be rated for "
            f"{hours:g} h, by the consumer that got them)",
        )
    if remembered.rated:
        raise Refused(409, "already_rated", f"the answer {request_id!r} is already rated")
    remembered.rated = True
    return remembered.answered


def _log(state: GatewayState, caller: Caller, answered: Answered, feedback: Feedback) -> None:
    """A line in the request log: the rating and who gave it; the comment at the log's content
    level (personal data replaced by default)."""
    audit = state.audit
    if audit is None:
        return
    audit.write(
        {
            "ts": round(time.time(), 3),
            "event": "feedback",
            "id": feedback.request_id,
            **answered.labels(),
            "consumer": caller.name,
            "team": caller.team,
            "key": caller.key_name,
            "rating": feedback.rating,
            "score": feedback.score,
            "comment": audit.text(feedback.comment) if feedback.comment else None,
        }
    )
