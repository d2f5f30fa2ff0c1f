"""Quality signals, the pure parts and the edges: reading a judge's reply, the sampling draw, the
memory of recent answers, the feedback body, the feedback SLI, and the judge in validation.
The feedback endpoint itself is the real gateway app in process (no upstream is needed)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.errors import Rule
from controlplane.gateway.answered import Answered, RecentAnswers
from controlplane.gateway.app import create_app
from controlplane.gateway.auth import key_hash
from controlplane.gateway.feedback import read_feedback
from controlplane.gateway.judges import (
    CONVERSATION_CHARS,
    JudgeJob,
    JudgeQueue,
    conversation_text,
    judge_messages,
    parse_score,
    sampled,
)
from controlplane.gateway.proxy import Refused
from controlplane.gateway.snapshot import Snapshot
from controlplane.policy.dialects import GATEWAY, VLLM
from controlplane.policy.model import Outcome
from controlplane.policy.slo import evaluate_objective, sli_queries
from controlplane.policy.source import MinuteValues
from controlplane.spec.policy import FeedbackSli, SLOPolicy
from controlplane.spec.route import Judge
from tests.support.config import edit, only, validate

# --- the judge's reply --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ('{"score": 0.8}', 0.8),
        ("0.25", 0.25),
        ("1", 1.0),
        ('```json\n{"score": 0}\n```', 0.0),
        ('Here is my grade: {"score": 0.7, "why": "clear"} as asked.', 0.7),
        ('{"score": 0.6} and again {"score": 0.6}', 0.6),
    ],
)
def test_a_score_is_read_from_json_or_a_number(reply: str, score: float) -> None:
    assert parse_score(reply) == score


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "The answer is good.",
        '{"score": 1.5}',  # outside 0..1
        "-0.1",
        '{"score": true}',
        '{"score": "0.8"}',
        '{"grade": 0.8}',
        '{"score": NaN}',
        "1e999",
        '{"score": 0.2} or maybe {"score": 0.9}',  # two different scores: neither
        "Rubric: be kind. Answer to grade: hello tok0",  # what the echoing simulator sends back
    ],
)
def test_a_reply_without_one_score_in_0_to_1_is_none(reply: str) -> None:
    assert parse_score(reply) is None


@given(st.text(max_size=200))
def test_any_reply_is_a_score_in_range_or_none(reply: str) -> None:
    score = parse_score(reply)
    assert score is None or 0.0 <= score <= 1.0


# --- sampling -----------------------------------------------------------------------------------

IDS = [f"req-{i:016x}" for i in range(10_000)]


def test_sampling_is_a_deterministic_share_of_request_ids() -> None:
    assert not any(sampled("chat", i, 0.0) for i in IDS)
    assert all(sampled("chat", i, 1.0) for i in IDS)
    share = sum(sampled("chat", i, 0.3) for i in IDS) / len(IDS)
    assert 0.28 < share < 0.32
    assert [sampled("chat", i, 0.3) for i in IDS[:100]] == [
        sampled("chat", i, 0.3) for i in IDS[:100]
    ]
    # a higher rate keeps every answer a lower one graded, and routes draw independently
    assert all(sampled("chat", i, 0.5) for i in IDS if sampled("chat", i, 0.3))
    other = [sampled("other", i, 0.3) for i in IDS]
    assert other != [sampled("chat", i, 0.3) for i in IDS]


def test_the_judge_reads_a_bounded_conversation_and_the_rubric() -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "image_url"}]},
        "not a message",
        {"role": "user", "content": "x" * (2 * CONVERSATION_CHARS)},
    ]
    text = conversation_text(messages[:3])
    assert text == "system: Be brief.\nuser: What is [image_url]"
    assert len(conversation_text(messages)) == CONVERSATION_CHARS
    system, user = judge_messages("Polite and correct.", text, "Paris.")
    assert system["role"] == "system"
    assert '{"score": S}' in system["content"]
    assert user["content"].startswith("Rubric:\nPolite and correct.\n")
    assert user["content"].endswith("Answer to grade:\nParis.")


def test_a_full_queue_refuses_at_once() -> None:
    async def fill() -> list[bool]:
        queue = JudgeQueue(size=2)
        job = JudgeJob("req-1", {}, Judge(route="j", rubric="r", sample_rate=1), "", "", Snapshot())
        return [queue.offer(job) for _ in range(3)]

    assert asyncio.run(fill()) == [True, True, False]


# --- recent answers -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


ANSWER = Answered(route="chat", variant="default", model="m", consumer="app")


def test_answers_are_remembered_for_the_window_only() -> None:
    clock = Clock()
    recent = RecentAnswers(ttl=60, size=10, clock=clock)
    recent.remember("req-a", ANSWER)
    clock.now = 30
    recent.remember("req-b", ANSWER)
    clock.now = 59.9
    assert recent.get("req-a") is not None
    clock.now = 60
    assert recent.get("req-a") is None  # expired
    assert recent.get("req-b") is not None
    clock.now = 200
    assert len(recent) == 0


def test_the_oldest_answers_go_first_past_the_size() -> None:
    recent = RecentAnswers(ttl=60, size=3, clock=Clock())
    for i in range(5):
        recent.remember(f"req-{i}", ANSWER)
    assert len(recent) == 3
    assert [recent.get(f"req-{i}") is not None for i in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


# --- the feedback body --------------------------------------------------------------------------


def test_feedback_is_a_rating_or_a_score() -> None:
    assert read_feedback({"request_id": "req-1", "rating": "up"}).rating == "up"
    assert read_feedback({"request_id": "req-1", "score": 1}).score == 1.0
    assert read_feedback({"request_id": "req-1", "score": 0.5, "comment": "ok"}).comment == "ok"


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"request_id": "req-1"}, None, 'either "rating"'),
        ({"request_id": "req-1", "rating": "up", "score": 1}, None, 'either "rating"'),
        ({"request_id": "req-1", "rating": "meh"}, "rating", "'up' or 'down'"),
        ({"request_id": "req-1", "score": 1.5}, "score", "less than or equal to 1"),
        ({"request_id": "req-1", "score": True}, "score", "valid number"),
        ({"request_id": "req-1", "score": "0.5"}, "score", "valid number"),
        ({"rating": "up"}, "request_id", "Field required"),
        ({"request_id": 7, "rating": "up"}, "request_id", "valid string"),
        ({"request_id": "req-1", "rating": "up", "x" * 1000: 1}, "x" * 64, "Extra inputs"),
    ],
)
def test_a_wrong_body_names_its_field(body: dict[str, Any], param: str | None, says: str) -> None:
    with pytest.raises(Refused) as refused:
        read_feedback(body)
    assert (refused.value.status, refused.value.param) == (400, param)
    assert says in str(refused.value)
    assert "x" * 65 not in str(refused.value)


# --- the endpoint, in process -------------------------------------------------------------------

TOKEN = "admin-token-for-feedback"
KEY = "sk-feedback-unit-0001"
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=15,
)
feedback_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"request_id": json_values},
        optional={"rating": json_values, "score": json_values, "comment": json_values},
    ),
)


def test_the_feedback_endpoint_answers_any_input_in_openai_errors() -> None:
    consumer = {
        "apiVersion": "controlplane.dev/v1alpha1",
        "kind": "Consumer",
        "metadata": {"name": "app"},
        "spec": {"keys": [{"name": "k", "sha256": key_hash(KEY)}]},
    }
    with TestClient(create_app(TOKEN)) as client:
        put = client.put(
            "/admin/v1/resources/Consumer/app",
            json=consumer,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert put.is_success

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            feedback_bodies,
            st.sampled_from(
                [
                    {},
                    {"authorization": f"Bearer {KEY}"},
                    {"authorization": "Bearer sk-x"},
                    {"authorization": "Basic x"},
                ]
            ),
        )
        def check(body: Any, headers: dict[str, str]) -> None:
            answer = client.post("/v1/feedback", content=json.dumps(body), headers=headers)
            assert answer.status_code in (400, 401, 404), answer.text  # no answer was ever given
            assert set(answer.json()["error"]) == {"message", "type", "param", "code"}

        check()


# --- the feedback SLI ---------------------------------------------------------------------------


class Thumbs:
    """A metric source that answers the feedback counter: 40 thumbs, 10 of them down."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def scalar(self, query: str, at: datetime) -> float | None:
        self.asked.append(query)
        return 10.0 if 'rating="down"' in query else 40.0

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        raise AssertionError("an SLO asks for scalars")

    def expect(self, routes: Collection[str]) -> None:
        raise AssertionError("an SLO asks for scalars")

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        raise AssertionError("an SLO asks for scalars")


def slo(target: float) -> SLOPolicy:
    return SLOPolicy.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "SLOPolicy",
            "metadata": {"name": "liked"},
            "spec": {
                "objectives": [
                    {
                        "name": "thumbs-up",
                        "sli": {"type": "feedback"},
                        "target": target,
                        "minEvents": 20,
                        "burnRate": {"windows": [{"long": "1h", "short": "5m", "factor": 2}]},
                    }
                ]
            },
        }
    )


def test_the_feedback_sli_counts_thumbs_down_of_all_thumbs() -> None:
    bad, total = sli_queries(FeedbackSli(type="feedback"), GATEWAY, "chat", timedelta(hours=1))
    assert total == 'sum(increase(llm_gateway_feedback_total{route="chat"}[3600s]))'
    assert bad == 'sum(increase(llm_gateway_feedback_total{route="chat",rating="down"}[3600s]))'
    at = datetime(2026, 1, 1, tzinfo=UTC)
    policy = slo(90)  # 25% down on a 10% budget burns at 2.5x, over the factor 2
    failing = evaluate_objective(
        policy, policy.spec.objectives[0], GATEWAY, Thumbs(), "prod", "chat", at
    )
    assert failing.outcome is Outcome.FAIL
    assert failing.evidence[0].value == pytest.approx(2.5)
    lenient = slo(80)  # on a 20% budget: 1.25x
    passing = evaluate_objective(
        lenient, lenient.spec.objectives[0], GATEWAY, Thumbs(), "prod", "chat", at
    )
    assert passing.outcome is Outcome.PASS


def test_the_feedback_sli_is_inconclusive_without_feedback_metrics() -> None:
    policy = slo(90)
    source = Thumbs()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    result = evaluate_objective(policy, policy.spec.objectives[0], VLLM, source, "prod", "chat", at)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "vllm dialect has no feedback metric" in result.reason
    assert source.asked == []


# --- the judge in validation --------------------------------------------------------------------

JUDGED = "  timeout: 30s\n  judge:\n    route: {route}\n    rubric: Helpful.\n    sampleRate: 0.1"


def line_of(root: Path, file: str, text: str) -> int:
    lines = (root / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_the_judge_route_must_exist_and_not_be_the_route(config: Path) -> None:
    routes = "environments/prod/routes.yaml"
    edit(config, routes, "  timeout: 30s", JUDGED.format(route="grader"))
    problem = only(validate(config, ["prod"]).problems, Rule.REFERENCE)
    assert (problem.file, problem.line) == (routes, line_of(config, routes, "route: grader"))
    assert (problem.resource, problem.path) == ("Route/chat", "spec.judge.route")
    assert "Route 'grader', which environment 'prod' does not have" in problem.found
    edit(config, routes, "route: grader", "route: chat")
    problem = only(validate(config, ["prod"]).problems, Rule.REFERENCE)
    assert problem.found == "the route itself ('chat') as its own judge"


def test_only_the_gateway_can_judge(config: Path) -> None:
    routes = "environments/prod/routes.yaml"
    edit(config, routes, "  timeout: 30s", JUDGED.format(route="chat"))
    edit(config, routes, "route: chat\n    rubric", "route: other\n    rubric")
    (config / "environments/prod/grader.yaml").write_text(
        "apiVersion: controlplane.dev/v1alpha1\nkind: Route\nmetadata:\n  name: other\n"
        "spec:\n  model: chat-v1\n"
    )
    assert validate(config, ["prod"]).problems == ()  # the gateway grades answers
    environment = "environments/prod/environment.yaml"
    text = (config / environment).read_text()
    start = text.index("    - type: gateway")
    end = text.index("\n", text.index("token:", start)) + 1
    litellm = (
        "    - type: litellm\n      url: http://127.0.0.1:4000\n"
        "      masterKey: env:LITELLM_MASTER_KEY\n      configFile: /etc/litellm/config.yaml\n"
        "      reloadCommand: [systemctl, restart, litellm]\n"
    )
    (config / environment).write_text(text[:start] + litellm + text[end:])
    problems = [p for p in validate(config, ["prod"]).problems if p.rule == Rule.TARGET]
    [judge] = [p for p in problems if p.path == "spec.judge"]
    assert judge.resource == "Route/chat"
    assert "not supported by litellm" in judge.expected
    assert judge.line == line_of(config, routes, "judge:")
