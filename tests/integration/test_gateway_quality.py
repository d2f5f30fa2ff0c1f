"""Quality signals over real HTTP: request ids, user feedback and the LLM judge, counted under
the answer's route, variant and model, and read back from a real Prometheus. Upstreams are the
SIMULATED model server; a judge is a simulator that replies a fixed score (`--reply`), or
echoes (a reply with no score in it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from controlplane.engine import apply_plan
from controlplane.errors import MetricsUnavailable
from controlplane.gateway.judges import QUEUE_SIZE, WORKERS, sampled
from controlplane.plan import compute_plan
from controlplane.policy.dialects import GATEWAY
from controlplane.policy.model import Outcome
from controlplane.policy.slo import evaluate_objective
from controlplane.prometheus import PrometheusClient
from controlplane.spec import Consumer, DesiredState, Environment, Model, Route
from controlplane.spec.policy import SLOPolicy
from controlplane.targets.gateway import GatewayDriver
from tests.integration.test_gateway import consumer, metric, model, resource
from tests.support.processes import TOKEN, free_port, gateway, simulator
from tests.support.prometheus import require_prometheus

pytestmark = pytest.mark.integration

KEY = "sk-quality-rater-0001"  # Consumer/rater
OTHER_KEY = "sk-quality-other-0002"  # Consumer/other
RUBRIC = "Correct, polite and brief."
SCORE_BUCKETS = (*GATEWAY.buckets["score"], "+Inf")


def judged(judge: str, rate: float = 1.0, **spec: Any) -> dict[str, Any]:
    return {"model": "m-a", "judge": {"route": judge, "rubric": RUBRIC, "sampleRate": rate}, **spec}


def routes() -> list[Route]:
    ab = {
        "model": "m-a",
        "variants": [
            {"name": "a", "model": "m-a", "weight": 50},
            {"name": "b", "model": "m-b", "weight": 50},
        ],
    }
    return [
        resource(Route, "ab", ab),
        resource(Route, "open", {"model": "m-a", "anonymous": True}),
        resource(Route, "plain", {"model": "m-a"}),
        resource(Route, "graded", judged("grader-slow")),
        resource(Route, "babbled", judged("grader-echo")),
        resource(Route, "half", judged("grader", 0.5)),
        resource(Route, "liked", judged("grader")),
        resource(Route, "grader", {"model": "judge-fast"}),
        resource(Route, "grader-slow", {"model": "judge-slow"}),
        resource(Route, "grader-echo", {"model": "judge-echo"}),
    ]


@dataclass
class Stack:
    gateway: str
    folder: Path
    client: httpx.Client
    sdk: openai.OpenAI

    def chat(self, route: str, key: str | None = KEY, **extra: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        headers.update(extra.pop("headers", {}))
        body = {"model": route, "messages": [{"role": "user", "content": "hello"}], **extra}
        return self.client.post(f"{self.gateway}/v1/chat/completions", json=body, headers=headers)

    def feedback(self, body: Any, key: str | None = KEY) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.post(f"{self.gateway}/v1/feedback", json=body, headers=headers)

    def metrics(self) -> str:
        return self.client.get(f"{self.gateway}/metrics").text

    def until(self, ready: Callable[[str], bool], timeout: float = 20) -> str:
        """/metrics once `ready` holds of it (the judge works in the background)."""
        deadline = time.monotonic() + timeout
        while not ready(text := self.metrics()):
            assert time.monotonic() < deadline, "the metrics never got there"
            time.sleep(0.05)
        return text

    def audit(self, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Lines of the request log that `match`, once there are some (a thread writes it)."""
        path = self.folder / "gateway-audit.jsonl"
        deadline = time.monotonic() + 10
        while True:
            text = path.read_text() if path.exists() else ""
            found = [line for line in map(json.loads, text.splitlines()) if match(line)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def apply(url: str, upstreams: dict[str, str], route_list: list[Route]) -> None:
    env = resource(Environment, "test", {"targets": [{"type": "gateway", "url": url}]})
    models: list[Model] = [model(name, upstream) for name, upstream in upstreams.items()]
    consumers: list[Consumer] = [consumer("rater", KEY), consumer("other", OTHER_KEY)]
    desired = DesiredState(
        environment=env, models=tuple(models), routes=tuple(route_list), consumers=tuple(consumers)
    )
    driver = GatewayDriver("gateway", url, TOKEN)
    try:
        assert apply_plan(compute_plan(desired, driver.read()), driver).ok
    finally:
        driver.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("quality")
    with (
        simulator("--ttft", "0", "--tpot", "0", "--tokens", "3") as fast,
        simulator("--ttft", "0", "--tpot", "0", "--reply", '{"score": 0.8}') as judge_fast,
        simulator("--ttft", "2", "--tpot", "0", "--reply", '{"score": 0.3}') as judge_slow,
        simulator("--ttft", "0", "--tpot", "0") as judge_echo,
        gateway(None, folder / "state.json") as url,
    ):
        upstreams = {
            "m-a": fast,
            "m-b": fast,
            "judge-fast": judge_fast,
            "judge-slow": judge_slow,
            "judge-echo": judge_echo,
        }
        apply(url, upstreams, routes())
        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        with httpx.Client(timeout=30) as client:
            yield Stack(url, folder, client, sdk)
        sdk.close()


def arm(text: str, name: str, route: str) -> dict[str, float]:
    """A metric's series of one route, by (variant, model, rating or le)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") and f'route="{route}"' in line:
            labels, value = line.rsplit(" ", 1)
            found[labels[len(name) :]] = float(value)
    return found


# --- request ids --------------------------------------------------------------------------------


def test_every_answer_carries_the_gateway_request_id(stack: Stack) -> None:
    raw = stack.sdk.chat.completions.with_raw_response.create(
        model="plain", messages=[{"role": "user", "content": "hi"}]
    )
    answer = raw.parse()
    assert raw.headers["x-request-id"] == answer.id
    assert answer.id.startswith("req-")
    streamed = stack.sdk.chat.completions.with_raw_response.create(
        model="plain", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(streamed.parse())
    assert chunks
    assert {c.id for c in chunks} == {streamed.headers["x-request-id"]}
    assert streamed.headers["x-request-id"] != answer.id
    # errors too: a request refused for its key, and one refused for its body
    for refused in (stack.chat("plain", key="sk-nobody"), stack.chat("plain", messages=[])):
        assert refused.status_code in (400, 401)
        assert refused.headers["x-request-id"].startswith("req-")


def test_a_client_request_id_is_echoed_and_logged_not_used(stack: Stack) -> None:
    answer = stack.chat("plain", headers={"x-request-id": "trace-42"})
    assert answer.status_code == 200
    own = answer.headers["x-request-id"]
    assert own.startswith("req-")
    assert own == answer.json()["id"]
    assert answer.headers["x-client-request-id"] == "trace-42"
    [line] = stack.audit(lambda a: a.get("id") == own)
    assert line["client_request_id"] == "trace-42"
    # the client's id names nothing feedback can rate
    assert stack.feedback({"request_id": "trace-42", "rating": "up"}).status_code == 404
    assert stack.feedback({"request_id": own, "rating": "up"}).status_code == 200
    odd = stack.chat("plain", headers={"x-request-id": "x" * 129})
    assert "x-client-request-id" not in odd.headers


# --- feedback -----------------------------------------------------------------------------------


def test_feedback_is_counted_under_the_answers_route_variant_and_model(stack: Stack) -> None:
    served: dict[str, list[tuple[str, str]]] = {"a": [], "b": []}  # variant -> (id, model)
    while min(len(v) for v in served.values()) < 2:
        answer = stack.chat("ab")
        assert answer.status_code == 200
        variant = answer.headers["x-controlplane-variant"]
        served[variant].append(
            (answer.headers["x-request-id"], answer.headers["x-controlplane-model"])
        )
    (a1, model_a), (a2, _) = served["a"][:2]
    (b1, model_b), (b2, _) = served["b"][:2]
    assert (model_a, model_b) == ("m-a", "m-b")
    for request_id, rating in ((a1, "up"), (a2, "down"), (b1, "up")):
        given = stack.feedback({"request_id": request_id, "rating": rating})
        assert given.status_code == 200, given.text
        assert given.json() == {"object": "feedback", "request_id": request_id, "rating": rating}
    assert stack.feedback({"request_id": b2, "score": 0.65, "comment": "ok"}).status_code == 200
    text = stack.metrics()
    assert arm(text, "llm_gateway_feedback_total", "ab") == {
        '{model="m-a",rating="up",route="ab",variant="a"}': 1.0,
        '{model="m-a",rating="down",route="ab",variant="a"}': 1.0,
        '{model="m-b",rating="up",route="ab",variant="b"}': 1.0,
    }
    scores = arm(text, "llm_gateway_feedback_score_count", "ab")
    assert scores == {'{model="m-b",route="ab",variant="b"}': 1.0}
    assert metric(text, "llm_gateway_feedback_score_sum", route="ab") == 0.65
    assert metric(text, "llm_gateway_feedback_score_bucket", route="ab", le="0.6") == 0
    assert metric(text, "llm_gateway_feedback_score_bucket", route="ab", le="0.7") == 1


def test_feedback_refusals_say_why_and_leak_nothing(stack: Stack) -> None:
    mine = stack.chat("plain").headers["x-request-id"]
    anonymous = stack.chat("open", key=None).headers["x-request-id"]
    assert stack.feedback({"request_id": mine, "rating": "up"}).status_code == 200

    def refused(body: Any, key: str | None = KEY) -> tuple[int, str]:
        answer = stack.feedback(body, key)
        error = answer.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        return answer.status_code, error["message"]

    assert refused({"request_id": mine, "rating": "down"})[0] == 409  # rated once only
    assert refused({"request_id": mine, "score": 1.0})[0] == 409
    unknown = refused({"request_id": "req-0000000000000000", "rating": "up"})
    another = refused({"request_id": mine, "rating": "up"}, key=OTHER_KEY)
    assert unknown[0] == another[0] == 404
    assert unknown[1].replace("req-0000000000000000", mine) == another[1]  # the same answer
    assert refused({"request_id": mine, "rating": "up"}, key="sk-nobody")[0] == 401
    assert refused({"request_id": mine, "rating": "up"}, key=None)[0] == 401
    assert refused({"request_id": "req-0000000000000000", "rating": "up"}, key=None)[0] == 401
    for body in (
        {"request_id": anonymous, "rating": "sideways"},
        {"request_id": anonymous, "score": 2},
        {"request_id": anonymous},
        {"rating": "up"},
        ["not", "an", "object"],
    ):
        assert refused(body, key=None)[0] == 400, body
    bad_json = stack.client.post(f"{stack.gateway}/v1/feedback", content=b"{nope")
    assert bad_json.status_code == 400
    assert stack.feedback({"request_id": anonymous, "rating": "up"}, key=None).status_code == 200
    assert stack.feedback({"request_id": anonymous, "rating": "up"}, key=KEY).status_code == 404


def test_feedback_goes_to_the_request_log_without_personal_data(stack: Stack) -> None:
    request_id = stack.chat("plain").headers["x-request-id"]
    comment = "wrong, write to jane.roe@example.com"
    given = stack.feedback({"request_id": request_id, "rating": "down", "comment": comment})
    assert given.status_code == 200
    [line] = stack.audit(lambda a: a.get("event") == "feedback" and a["id"] == request_id)
    assert (line["route"], line["consumer"], line["rating"]) == ("plain", "rater", "down")
    assert "jane.roe@example.com" not in line["comment"]
    assert line["comment"].startswith("wrong, write to ")
    assert "jane.roe" not in stack.metrics()


# --- the judge ----------------------------------------------------------------------------------


def test_a_slow_judge_grades_in_the_background_without_delaying_answers(stack: Stack) -> None:
    latencies = []
    for _ in range(5):
        started = time.perf_counter()
        raw = stack.sdk.chat.completions.with_raw_response.create(
            model="graded", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
        latencies.append(time.perf_counter() - started)
        assert raw.parse().choices[0].message.content
    answered = time.perf_counter()
    # every answer is back while the judge (2 s an answer) has graded none of them yet
    assert metric(stack.metrics(), "llm_gateway_judge_score_count", route="graded") == 0
    assert max(latencies) < 1.0, latencies
    text = stack.until(
        lambda t: metric(t, "llm_gateway_judge_total", route="graded", outcome="scored") == 5
    )
    graded = time.perf_counter() - answered
    print(f"\nanswers: max {max(latencies) * 1000:.0f} ms; all graded {graded:.1f} s later")
    assert graded > 1.5  # the judge was slow indeed
    assert arm(text, "llm_gateway_judge_score_count", "graded") == {
        '{model="m-a",route="graded",variant="default"}': 5.0
    }
    assert metric(text, "llm_gateway_judge_score_sum", route="graded") == pytest.approx(1.5)
    assert metric(text, "llm_gateway_judge_score_bucket", route="graded", le="0.3") == 5
    assert metric(text, "llm_gateway_judge_score_bucket", route="graded", le="0.2") == 0
    # the judge's own calls are requests of the judge route, each naming what it graded
    assert metric(text, "llm_gateway_requests_total", route="grader-slow", status="200") == 5
    lines = stack.audit(lambda a: a.get("route") == "grader-slow")
    graded_ids = {a["id"] for a in stack.audit(lambda a: a.get("route") == "graded")}
    assert {a["judges"] for a in lines} == graded_ids


def test_a_judge_reply_that_holds_no_score_is_an_error_not_a_score(stack: Stack) -> None:
    for _ in range(3):
        assert stack.chat("babbled").status_code == 200
    text = stack.until(
        lambda t: metric(t, "llm_gateway_judge_total", route="babbled", outcome="unparsed") == 3
    )
    assert metric(text, "llm_gateway_judge_score_count", route="babbled") == 0
    assert metric(text, "llm_gateway_judge_total", route="babbled", outcome="scored") == 0


def test_the_judge_samples_by_a_hash_of_the_request_id(stack: Stack) -> None:
    ids = [stack.chat("half").headers["x-request-id"] for _ in range(20)]
    expected = sum(sampled("half", i, 0.5) for i in ids)
    assert 0 < expected < 20  # (for these ids; the draw is fixed by the id)
    text = stack.until(
        lambda t: metric(t, "llm_gateway_judge_total", route="half", outcome="scored") == expected
    )
    assert metric(text, "llm_gateway_judge_score_count", route="half") == expected
    assert metric(text, "llm_gateway_judge_score_sum", route="half") == pytest.approx(
        0.8 * expected
    )
    assert metric(text, "llm_gateway_requests_total", route="half") == 20


def test_the_judge_is_carried_by_the_admin_api(stack: Stack) -> None:
    live = stack.client.get(
        f"{stack.gateway}/admin/v1/resources/Route/half",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert live["spec"]["judge"] == {"route": "grader", "rubric": RUBRIC, "sampleRate": 0.5}
    env = resource(Environment, "test", {"targets": [{"type": "gateway", "url": stack.gateway}]})
    driver = GatewayDriver("gateway", stack.gateway, TOKEN)
    try:
        state = driver.read()
    finally:
        driver.close()
    [half] = [r for r in state.resources if isinstance(r, Route) and r.name == "half"]
    assert half.spec.judge is not None
    assert half.spec.judge.sample_rate == 0.5
    desired = DesiredState(
        environment=env,
        models=tuple(r for r in state.resources if isinstance(r, Model)),
        routes=tuple(r for r in state.resources if isinstance(r, Route)),
        consumers=tuple(r for r in state.resources if isinstance(r, Consumer)),
    )
    assert compute_plan(desired, state).changes == ()  # read back as it was written


def test_a_full_judge_queue_drops_and_counts_without_failing_requests(tmp_path: Path) -> None:
    capacity = QUEUE_SIZE + WORKERS  # waiting, and being graded
    with (
        simulator("--ttft", "0", "--tpot", "0", "--tokens", "2") as fast,
        simulator("--ttft", "30", "--reply", "0.5") as stuck,
        gateway() as url,
    ):
        apply(
            url,
            {"m-a": fast, "stuck": stuck},
            [
                resource(Route, "busy", judged("stuck-judge")),
                resource(Route, "stuck-judge", {"model": "stuck", "timeout": "60s"}),
            ],
        )
        latencies = []
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as client:
            for i in range(capacity + 6):
                started = time.perf_counter()
                answer = client.post(
                    f"{url}/v1/chat/completions",
                    json={"model": "busy", "messages": [{"role": "user", "content": f"q{i}"}]},
                )
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 200
            text = client.get(f"{url}/metrics").text
    assert metric(text, "llm_gateway_judge_total", route="busy", outcome="dropped") == 6
    assert metric(text, "llm_gateway_requests_total", route="busy", status="200") == capacity + 6
    assert max(latencies) < 1.0, max(latencies)


# --- in Prometheus ------------------------------------------------------------------------------


def test_feedback_and_judge_scores_reach_prometheus_and_the_feedback_slo(
    stack: Stack, tmp_path: Path
) -> None:
    require_prometheus()

    def rate(rating: str) -> None:
        request_id = stack.chat("liked").headers["x-request-id"]
        assert stack.feedback({"request_id": request_id, "rating": rating}).status_code == 200

    for rating in ("up", "up", "down"):  # every series exists before the first scrape, ...
        rate(rating)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gateway\n"
        f"    static_configs:\n      - targets: ['{stack.gateway.removeprefix('http://')}']\n"
    )
    process = subprocess.Popen(
        [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prometheus = PrometheusClient(f"http://127.0.0.1:{port}")

    def seen(query: str, value: float) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if prometheus.scalar(query, datetime.now(UTC)) == value:
                    return
            except MetricsUnavailable:  # not ready yet: the same as not scraped yet
                assert process.poll() is None, "Prometheus exited"
            assert time.monotonic() < deadline, f"Prometheus never saw {query} == {value}"
            time.sleep(0.2)

    try:
        seen(
            'llm_gateway_feedback_total{route="liked",variant="default",model="m-a",rating="down"}',
            1,
        )
        for rating in ("down", "down"):  # ... so in the windows, every new thumb is down
            rate(rating)
        seen('llm_gateway_feedback_total{route="liked",rating="down"}', 3)
        seen(
            'llm_gateway_feedback_total{route="liked",variant="default",model="m-a",rating="up"}', 2
        )
        seen('llm_gateway_judge_score_count{route="liked",variant="default",model="m-a"}', 5)
        seen('llm_gateway_judge_score_bucket{route="liked",le="0.8"}', 5)
        seen('llm_gateway_judge_score_bucket{route="liked",le="0.7"}', 0)
        policy = SLOPolicy.model_validate(
            {
                "apiVersion": "controlplane.dev/v1alpha1",
                "kind": "SLOPolicy",
                "metadata": {"name": "liked"},
                "spec": {
                    "objectives": [
                        {
                            "name": "thumbs-up",
                            "sli": {"type": "feedback"},
                            "target": 50,
                            "minEvents": 1,
                            "burnRate": {"windows": [{"long": "2m", "short": "1m", "factor": 1.5}]},
                        }
                    ]
                },
            }
        )
        result = evaluate_objective(
            policy,
            policy.spec.objectives[0],
            GATEWAY,
            prometheus,
            "test",
            "liked",
            datetime.now(UTC),
        )
    finally:
        prometheus.close()
        process.terminate()
        process.wait(timeout=20)
    # in the windows, every new thumb is down: a burn of 1 / (1 - 50%)
    assert result.outcome is Outcome.FAIL, result
    assert [e.value for e in result.evidence] == [pytest.approx(2.0), pytest.approx(2.0)]
