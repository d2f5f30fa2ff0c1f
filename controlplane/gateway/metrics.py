"""The gateway's Prometheus metrics. Names are documented in the README.

Histogram buckets include every latency threshold of the shipped SLO policies (TTFT 200 ms and
1 s, TPOT 50 ms, end-to-end 5 s) as exact bounds, so an SLI "requests under T" is a bucket count
and not an interpolation.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from controlplane.policy.dialects import GATEWAY

# The *_created series double the exposition and no query here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Defined with the dialect, so validation can check SLO thresholds against them.
TTFT_BUCKETS = GATEWAY.buckets["ttft"]
TPOT_BUCKETS = GATEWAY.buckets["tpot"]
E2E_BUCKETS = GATEWAY.buckets["e2e-latency"]
SCORE_BUCKETS = GATEWAY.buckets["score"]

ARM = ("route", "variant", "model")


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "llm_gateway_requests",
            "Requests by route, arm, serving model and HTTP status.",
            [*ARM, "status"],
            registry=r,
        )
        self.ttft = Histogram(
            "llm_gateway_time_to_first_token_seconds",
            "Time from request to the first streamed token.",
            ARM,
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tpot = Histogram(
            "llm_gateway_time_per_output_token_seconds",
            "Mean time between streamed output tokens of a request.",
            ARM,
            buckets=TPOT_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            "llm_gateway_e2e_request_latency_seconds",
            "Time from request to the last byte.",
            ARM,
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.input_tokens = Counter("llm_gateway_input_tokens", "Prompt tokens.", ARM, registry=r)
        self.output_tokens = Counter(
            "llm_gateway_output_tokens", "Completion tokens.", ARM, registry=r
        )
        self.cost = Counter(
            "llm_gateway_cost_usd",
            "Cost in USD from the serving model's token prices.",
            ARM,
            registry=r,
        )
        self.guardrail_triggers = Counter(
            "llm_gateway_guardrail_triggers",
            "Guardrails that triggered, by action taken.",
            ["route", "guardrail", "stage", "action"],
            registry=r,
        )
        self.rate_limited = Counter(
            "llm_gateway_rate_limited",
            "Requests rejected with 429, by the limit they hit.",
            ["route", "limit"],
            registry=r,
        )
        self.fallbacks = Counter(
            "llm_gateway_fallbacks",
            "Upstream failures that moved a request to the next model.",
            ["route", "from_model", "to_model"],
            registry=r,
        )
        self.unauthorized = Counter(
            "llm_gateway_unauthorized",
            "Requests refused before routing: 401 (no or unknown key) or 403 (route not allowed).",
            ["status"],
            registry=r,
        )
        self.budget_blocked = Counter(
            "llm_gateway_budget_blocked",
            "Requests answered 429 because a budget's block threshold was reached.",
            ["route", "budget"],
            registry=r,
        )
        self.budget_notifications = Counter(
            "llm_gateway_budget_notifications",
            "Budget notify thresholds reached (once per budget, threshold and period).",
            ["budget", "percent"],
            registry=r,
        )
        self.budget_spent = Gauge(
            "llm_gateway_budget_spent_ratio",
            "Share of each budget's limit spent in its current period (1 = the limit).",
            ["budget"],
            registry=r,
        )
        self.estimated_usage = Counter(
            "llm_gateway_estimated_usage",
            "Requests whose upstream reported no usage, so tokens were counted by the gateway.",
            ["route", "model"],
            registry=r,
        )
        self.cache = Counter(
            "llm_gateway_cache_requests",
            "Cache lookups by outcome: hit, miss, or bypass (not cacheable or no-cache).",
            ["route", "outcome"],
            registry=r,
        )
        self.cache_similarity = Histogram(
            "llm_gateway_cache_similarity",
            "Similarity of the best cached prompt to the one asked, on semantic lookups.",
            ["route"],
            buckets=(0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0),
            registry=r,
        )
        self.cascade = Counter(
            "llm_gateway_cascade",
            "Cascade outcomes: answered by the fast model, or escalated to the strong one.",
            ["route", "outcome"],
            registry=r,
        )
        # Quality: users' feedback and the judge's grades, under the labels of the answer
        self.feedback = Counter(
            "llm_gateway_feedback",
            "Thumbs given to answers through /v1/feedback, by rating (up or down).",
            [*ARM, "rating"],
            registry=r,
        )
        self.feedback_score = Histogram(
            "llm_gateway_feedback_score",
            "Scores from 0 to 1 given to answers through /v1/feedback.",
            ARM,
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.judge_score = Histogram(
            "llm_gateway_judge_score",
            "Scores from 0 to 1 the route's judge gave to sampled answers.",
            ARM,
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.judge = Counter(
            "llm_gateway_judge",
            "Sampled answers by what became of their grading: scored, unparsed (the judge's "
            "reply held no 0..1 score), failed (the judge route did not answer) or dropped "
            "(the queue was full).",
            ["route", "outcome"],
            registry=r,
        )
        self.config_version = Gauge(
            "llm_gateway_config_version", "Version of the live configuration.", registry=r
        )
