"""One data-plane request's accounting: metrics, spend against budgets, and its audit line."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from controlplane.gateway import tokens
from controlplane.gateway.answered import Answered
from controlplane.gateway.auth import Caller
from controlplane.gateway.budgets import Usage
from controlplane.gateway.judges import ANSWER_CHARS, JudgeJob, conversation_text, sampled
from controlplane.gateway.routing import Arm
from controlplane.gateway.snapshot import Snapshot
from controlplane.gateway.state import GatewayState
from controlplane.spec import Model, Route

log = logging.getLogger("controlplane.gateway.budgets")


def cost_usd(model: Model | None, input_tokens: int, output_tokens: int) -> float:
    pricing = model.spec.pricing if model is not None else None
    if pricing is None:
        return 0.0
    return (input_tokens * pricing.input_per_1m + output_tokens * pricing.output_per_1m) / 1e6


@dataclass
class Call:
    """What one request is doing, for its metrics, budgets and audit line."""

    state: GatewayState
    snapshot: Snapshot
    caller: Caller
    started: float
    route: Route | None = None
    arm: Arm | None = None
    model: Model | None = None
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4().hex[:16]}")
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False
    cost: float = 0.0
    ttft: float | None = None
    guardrails: set[str] = field(default_factory=set)
    cache: str | None = None  # hit, miss, bypass
    similarity: float | None = None
    cascade: str | None = None  # fast, escalated
    fallbacks: list[str] = field(default_factory=list)
    error: str | None = None
    messages: list[Any] = field(default_factory=list)  # as sent upstream, after guardrails
    answer: str | None = None
    rateable: bool = False  # a chat answer: feedback may rate it, the route's judge grade it
    client_request_id: str | None = None  # the client's own id for the request, if it sent one
    judges: str | None = None  # set on the judge's own call: the request id it grades

    def labels(self) -> dict[str, str]:
        """Metric labels; `model` is what answered: a model's name, or `cache` for a hit (so a
        model's latency is never flattered by answers it did not give)."""
        model = self.model.name if self.model else (self.arm.model if self.arm else "")
        model = "cache" if self.cache == "hit" else model
        return {
            "route": self.route.name if self.route else "",
            "variant": self.arm.variant if self.arm else "",
            "model": model,
        }

    def usage(self, model: Model | None) -> Usage:
        return Usage(
            consumer=self.caller.name,
            team=self.caller.team,
            route=self.route.name if self.route else "",
            model=model.name if model else "",
        )

    def charge(self, model: Model | None, input_tokens: int, output_tokens: int) -> None:
        """Count the tokens a model used for this request, and what they cost, everywhere."""
        if not (input_tokens or output_tokens) or self.route is None:
            return
        m = self.state.metrics
        labels = {**self.labels(), "model": model.name if model else ""}
        m.input_tokens.labels(**labels).inc(input_tokens)
        m.output_tokens.labels(**labels).inc(output_tokens)
        usd = cost_usd(model, input_tokens, output_tokens)
        self.cost += usd
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if usd:
            m.cost.labels(**labels).inc(usd)
        self.state.limiter.add_tokens(
            self.route.name, self.caller.name, input_tokens + output_tokens
        )
        self.state.limiter.add_tokens("", self.caller.name, input_tokens + output_tokens)
        usage = self.usage(model)
        for budget, percent in self.state.ledger.add(self.snapshot.budgets, usage, usd):
            spent = self.state.ledger.spent(budget)
            m.budget_notifications.labels(budget=budget.name, percent=f"{percent:g}").inc()
            log.warning(
                "budget %s reached %g%% of its limit",
                budget.name,
                percent,
                extra={
                    "event": "budget.threshold",
                    "budget": budget.name,
                    "percent": percent,
                    "spent_usd": round(spent, 6),
                    "limit_usd": budget.spec.limit_usd,
                },
            )
        for budget in self.snapshot.budgets:
            if usage.matches(budget):
                m.budget_spent.labels(budget=budget.name).set(self.state.ledger.share(budget) / 100)

    def finish(self, status: int | str) -> None:
        """The request is over: count it and write its audit line."""
        elapsed = time.perf_counter() - self.started
        if self.route is not None and self.arm is not None:
            m = self.state.metrics
            labels = self.labels()
            m.requests.labels(**labels, status=str(status)).inc()
            m.e2e.labels(**labels).observe(elapsed)
            if self.estimated:
                m.estimated_usage.labels(route=labels["route"], model=labels["model"]).inc()
            if status == 200 and self.rateable:
                self._answered(self.route, labels)
        audit = self.state.audit
        if audit is None:
            return
        record: dict[str, Any] = {
            "ts": round(time.time(), 3),
            "id": self.request_id,
            **self.labels(),
            "consumer": self.caller.name,
            "team": self.caller.team,
            "key": self.caller.key_name,  # the key's name from the Consumer, never the key
            "status": status,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "usage_estimated": self.estimated,
            "cost_usd": round(self.cost, 8),
            "latency_s": round(elapsed, 4),
            "ttft_s": round(self.ttft, 4) if self.ttft is not None else None,
            "guardrails": sorted(self.guardrails),
            "cache": self.cache,
            "similarity": round(self.similarity, 4) if self.similarity is not None else None,
            "cascade": self.cascade,
            "fallbacks": self.fallbacks,
            "error": self.error,
        }
        if self.client_request_id is not None:
            record["client_request_id"] = self.client_request_id
        if self.judges is not None:
            record["judges"] = self.judges
        audit.write(record, lambda: (_prompt_text(self.messages), self.answer or ""))

    def _answered(self, route: Route, labels: dict[str, str]) -> None:
        """A chat answer went out: remember it for feedback, and queue it for the route's
        judge when it is sampled (never waiting: a full queue drops it, counted)."""
        consumer = self.caller.consumer.name if self.caller.consumer is not None else None
        self.state.recent.remember(self.request_id, Answered(**labels, consumer=consumer))
        judge = route.spec.judge
        if judge is None or not sampled(route.name, self.request_id, judge.sample_rate):
            return
        job = JudgeJob(
            request_id=self.request_id,
            labels=labels,
            judge=judge,
            conversation=conversation_text(self.messages),
            answer=(self.answer or "")[:ANSWER_CHARS],
            snapshot=self.snapshot,
        )
        queue = self.state.judges
        if queue is None or not queue.offer(job):
            self.state.metrics.judge.labels(route=route.name, outcome="dropped").inc()


def _prompt_text(messages: list[Any]) -> str:
    return "\n".join(
        f"{m.get('role')}: {m.get('content')}" for m in messages if isinstance(m, dict)
    )


def charge_usage(
    call: Call, model: Model | None, body: dict[str, Any], data: dict[str, Any]
) -> None:
    """Charge the upstream's usage, or a count of our own (marked estimated) when it sent none."""
    usage = data.get("usage")
    if isinstance(usage, dict) and "prompt_tokens" in usage:
        call.charge(model, int(usage["prompt_tokens"]), int(usage.get("completion_tokens", 0)))
        return
    estimate = estimated_usage(body, answer_text(data))
    call.estimated = True
    call.charge(model, estimate["prompt_tokens"], estimate["completion_tokens"])
    data["usage"] = estimate


def answer_text(data: dict[str, Any]) -> str:
    return "".join(
        str((c.get("message") or {}).get("content") or "")
        for c in data.get("choices") or []
        if isinstance(c, dict)
    )


def estimated_usage(body: dict[str, Any], answer: str) -> dict[str, Any]:
    """Usage counted here, for an upstream that sent none (marked so)."""
    prompt, completion = tokens.prompt_tokens(body["messages"]), tokens.count(answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "estimated": True,
    }
