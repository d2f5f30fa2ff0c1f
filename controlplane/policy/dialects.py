"""Metric dialects: the names and labels each serving layer exports, by logical metric.

Policies name logical metrics (ttft, tpot, e2e-latency, requests, errors, tokens, cost); a
dialect says how to ask Prometheus for them. The gateway's, vLLM's and LiteLLM's names, labels
and bucket bounds are checked against the real servers' /metrics in the tests; OpenTelemetry's
follow its published conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dialect:
    name: str
    histograms: dict[str, str]  # logical latency metric -> histogram base name
    requests: str  # counter of finished requests
    errors: str  # label matcher that marks a failed request on `requests`, or "" if unknown
    route_label: str
    variant_label: str  # "" where the layer has no notion of arms
    input_tokens: str
    output_tokens: str
    cost: str  # "" where the layer exports no cost
    # Histogram bucket bounds, where they are fixed and known: a latency SLI counts requests
    # under a bound, so its threshold must be one.
    buckets: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # Quality signals, where the layer records them (only the embedded gateway does): a counter
    # of thumbs with a rating="up"|"down" label, and histograms of 0..1 scores given as
    # feedback and by the judge.
    feedback: str = ""
    feedback_score: str = ""
    judge_score: str = ""

    def histogram(self, metric: str) -> str:
        return self.histograms[metric]


GATEWAY = Dialect(
    name="gateway",
    histograms={
        "ttft": "llm_gateway_time_to_first_token_seconds",
        "tpot": "llm_gateway_time_per_output_token_seconds",
        "e2e-latency": "llm_gateway_e2e_request_latency_seconds",
    },
    requests="llm_gateway_requests_total",
    errors='status!~"2..|4.."',
    route_label="route",
    variant_label="variant",
    input_tokens="llm_gateway_input_tokens_total",
    output_tokens="llm_gateway_output_tokens_total",
    cost="llm_gateway_cost_usd_total",
    feedback="llm_gateway_feedback_total",
    feedback_score="llm_gateway_feedback_score",
    judge_score="llm_gateway_judge_score",
    buckets={
        "ttft": (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
        "tpot": (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.5, 1.0),
        "e2e-latency": (
            0.1,
            0.25,
            0.5,
            1.0,
            2.0,
            3.0,
            5.0,
            7.5,
            10.0,
            15.0,
            20.0,
            30.0,
            60.0,
            120.0,
        ),
        # 0..1 scores (feedback and judge), in tenths: a bucket per grade of a 10-point rubric
        "score": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    },
)

VLLM = Dialect(
    name="vllm",
    histograms={
        "ttft": "vllm:time_to_first_token_seconds",
        "tpot": "vllm:inter_token_latency_seconds",
        "e2e-latency": "vllm:e2e_request_latency_seconds",
    },
    requests="vllm:request_success_total",
    errors="",  # vLLM counts successes by finish reason; failures are not a label of it
    route_label="model_name",
    variant_label="",
    input_tokens="vllm:prompt_tokens_total",
    output_tokens="vllm:generation_tokens_total",
    cost="",
    # vLLM 0.32's bounds, read off a running server.
    buckets={
        "ttft": (
            0.001,
            0.005,
            0.01,
            0.02,
            0.04,
            0.06,
            0.08,
            0.1,
            0.25,
            0.5,
            0.75,
            1.0,
            2.5,
            5.0,
            7.5,
            10.0,
            20.0,
            40.0,
            80.0,
            160.0,
            640.0,
            2560.0,
        ),
        "tpot": (
            0.01,
            0.025,
            0.05,
            0.075,
            0.1,
            0.15,
            0.2,
            0.3,
            0.4,
            0.5,
            0.75,
            1.0,
            2.5,
            5.0,
            7.5,
            10.0,
            20.0,
            40.0,
            80.0,
        ),
        "e2e-latency": (
            0.3,
            0.5,
            0.8,
            1.0,
            1.5,
            2.0,
            2.5,
            5.0,
            10.0,
            15.0,
            20.0,
            30.0,
            40.0,
            50.0,
            60.0,
            120.0,
            240.0,
            480.0,
            960.0,
            1920.0,
            7680.0,
        ),
    },
)

# LiteLLM 1.108's latency histograms all share these bounds (read off a running proxy).
_LITELLM_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    420.0,
    600.0,
)

LITELLM = Dialect(
    name="litellm",
    histograms={
        "ttft": "litellm_llm_api_time_to_first_token_metric",
        "tpot": "litellm_llm_api_latency_metric",
        "e2e-latency": "litellm_request_total_latency_metric",
    },
    requests="litellm_proxy_total_requests_metric_total",
    errors='status_code!~"2..|4.."',
    # The model group the client asked for: the only label on every one of these metrics that
    # names the route (model_group is missing from the request counter).
    route_label="requested_model",
    variant_label="",
    input_tokens="litellm_input_tokens_metric_total",
    output_tokens="litellm_output_tokens_metric_total",
    cost="litellm_spend_metric_total",
    buckets=dict.fromkeys(("ttft", "tpot", "e2e-latency"), _LITELLM_BUCKETS),
)

OTEL_GENAI = Dialect(
    name="otel-genai",
    histograms={
        "ttft": "gen_ai_server_time_to_first_token_seconds",
        "tpot": "gen_ai_server_time_per_output_token_seconds",
        "e2e-latency": "gen_ai_server_request_duration_seconds",
    },
    requests="gen_ai_server_request_duration_seconds_count",
    errors='error_type!=""',
    route_label="gen_ai_request_model",
    variant_label="",
    input_tokens="gen_ai_client_token_usage_sum",
    output_tokens="gen_ai_client_token_usage_sum",
    cost="",
)

DIALECTS = {d.name: d for d in (GATEWAY, VLLM, LITELLM, OTEL_GENAI)}
