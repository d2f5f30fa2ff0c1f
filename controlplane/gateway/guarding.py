"""The route's guardrails over a request's text: input messages, whole answers, streams.

Fast checks (regexes, phrase patterns) run where they are called; a classifier (prompt
injection, toxicity) runs in a thread, so the event loop never waits on a model. A guardrail
that blocks raises GuardrailBlocked; one that cannot run (its model is not installed) blocks
too, with 503, rather than let the text through unchecked.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from controlplane.errors import ConfigError
from controlplane.gateway.calls import Call
from controlplane.gateway.errors import error
from controlplane.gateway.guardrails import check, is_deep
from controlplane.spec import Guardrail, Route
from controlplane.spec.guardrail import Action, Stage


class GuardrailBlocked(Exception):
    """A guardrail stopped the request: it triggered (400), or could not run (503: refused,
    not let through unchecked)."""

    def __init__(self, guardrail: str, stage: Stage, cannot_run: str | None = None) -> None:
        reason = f"could not run ({cannot_run})" if cannot_run else "blocked it"
        super().__init__(f"guardrail {guardrail!r} ({stage.value}) {reason}")
        self.status = 503 if cannot_run else 400

    def response(self) -> Response:
        return error(self.status, "guardrail_blocked", str(self))


def stage_guardrails(call: Call, route: Route, stage: Stage) -> list[Guardrail]:
    found = (call.snapshot.guardrail(name) for name in route.spec.guardrails)
    return [g for g in found if g is not None and g.spec.stage is stage]


def has_deep(call: Call, route: Route, stage: Stage) -> bool:
    return any(is_deep(g) for g in stage_guardrails(call, route, stage))


def guard(
    call: Call, route: Route, stage: Stage, text: str, deep: bool = True, only_deep: bool = False
) -> str:
    """Run the route's guardrails of one stage; redact, or raise GuardrailBlocked. Each
    guardrail that triggers is recorded once per request. Without `deep`, model-based checks
    run their fast pass only; with `only_deep`, only they run."""
    for guardrail in stage_guardrails(call, route, stage):
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


def guard_messages(call: Call, route: Route, messages: list[Any]) -> list[Any]:
    guarded = []
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            message = {**message, "content": guard(call, route, Stage.INPUT, message["content"])}
        elif isinstance(message, dict) and isinstance(message.get("content"), list):
            parts = [
                {**part, "text": guard(call, route, Stage.INPUT, part["text"])}
                if isinstance(part, dict) and isinstance(part.get("text"), str)
                else part
                for part in message["content"]
            ]
            message = {**message, "content": parts}
        guarded.append(message)
    return guarded


def guard_answer(call: Call, route: Route, data: dict[str, Any]) -> None:
    for choice in data.get("choices") or []:
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["content"] = guard(call, route, Stage.OUTPUT, message["content"])
