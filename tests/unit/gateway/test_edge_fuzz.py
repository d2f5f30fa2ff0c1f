"""Property: whatever a client sends the gateway's data plane or admin API (any JSON, any text,
any headers), the answer is never a 5xx and a refusal says why in the API's own format. The
real gateway app, in process (Starlette's test client), with a route to a model nobody serves."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.gateway.app import create_app

TOKEN = "admin-token-for-fuzz"
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
chat_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"model": st.one_of(st.text(max_size=10), st.just("chat")), "messages": json_values},
        optional={"stream": json_values, "user": json_values, "max_tokens": json_values},
    ),
)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


def admin_setup(client: TestClient) -> None:
    """A route `chat` to a model whose endpoint refuses connections: the data plane runs its
    whole path (limits, guardrails, routing, fallbacks) and answers without an upstream."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    model = {
        "apiVersion": "controlplane.dev/v1alpha1",
        "kind": "Model",
        "metadata": {"name": "m"},
        "spec": {
            "baseModel": "x",
            "framework": "openai-compatible",
            "endpoint": "http://127.0.0.1:9/v1",
        },
    }
    route = {
        "apiVersion": "controlplane.dev/v1alpha1",
        "kind": "Route",
        "metadata": {"name": "chat"},
        "spec": {"model": "m", "timeout": "1s"},
    }
    assert client.put("/admin/v1/resources/Model/m", json=model, headers=headers).is_success
    assert client.put("/admin/v1/resources/Route/chat", json=route, headers=headers).is_success


def test_the_data_plane_never_answers_5xx_but_for_an_unreachable_upstream() -> None:
    with TestClient(create_app(TOKEN)) as client:
        admin_setup(client)

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            chat_bodies,
            st.dictionaries(
                st.sampled_from(["authorization", "x-user-id", "content-type"]),
                header_values,
                max_size=3,
            ),
        )
        def check(body: Any, headers: dict[str, str]) -> None:
            # json.dumps writes NaN and Infinity, which no JSON allows but Python's parser reads
            answer = client.post("/v1/chat/completions", content=json.dumps(body), headers=headers)
            # 502 is the one 5xx: the model is unreachable, and the gateway says so
            assert answer.status_code < 500 or answer.status_code == 502, answer.text
            assert "error" in answer.json(), answer.text  # OpenAI's shape, whatever went wrong

        check()


def test_the_admin_api_never_answers_5xx() -> None:
    with TestClient(create_app(TOKEN)) as client:

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            st.sampled_from(["Model", "Route", "Guardrail", "Budget", "GpuPool", "Nope"]),
            st.text(alphabet="abc-.0", min_size=1, max_size=8),
            json_values,
            st.sampled_from([None, "*", '"1"', "garbage"]),
        )
        def check(kind: str, name: str, body: Any, condition: str | None) -> None:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            if condition is not None:
                headers["If-Match"] = condition
            headers["content-type"] = "application/json"
            path = f"/admin/v1/resources/{kind}/{name}"
            answer = client.put(path, content=json.dumps(body), headers=headers)
            assert answer.status_code < 500, answer.text
            answer = client.delete(path, headers=headers)
            assert answer.status_code < 500, answer.text

        check()
