"""The gateway as OpenAI's own Python SDK sees it: sync and async, streamed and not, errors
raised as the SDK's exception classes, embeddings and model lookup. The upstream is the
SIMULATED model server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from controlplane.engine import apply_plan
from controlplane.plan import compute_plan
from controlplane.spec import DesiredState, Environment, Model, Route
from controlplane.targets.gateway import GatewayDriver
from tests.integration.test_gateway import consumer, model, resource
from tests.support.processes import TOKEN, gateway, simulator

pytestmark = pytest.mark.integration

KEY = "sk-openai-sdk-client-42"


@dataclass
class Sdk:
    url: str
    client: openai.OpenAI
    aclient: openai.AsyncOpenAI


@pytest.fixture(scope="module")
def sdk() -> Iterator[Sdk]:
    with simulator("--ttft", "0", "--tpot", "0", "--tokens", "3") as upstream, gateway() as url:
        env = resource(Environment, "sdk", {"targets": [{"type": "gateway", "url": url}]})
        chat = model("chat-model", upstream)
        hosted = resource(
            Model,
            "hosted",
            {
                "baseModel": "gpt-4o-mini",
                "framework": "external-api",
                "endpoint": f"{upstream}/v1",
            },
        )
        embed = resource(
            Model,
            "embedder",
            {
                "baseModel": "org/embedder",
                "framework": "openai-compatible",
                "task": "embedding",
                "endpoint": f"{upstream}/v1",
            },
        )
        desired = DesiredState(
            environment=env,
            models=(chat, embed, hosted),
            routes=(
                resource(Route, "chat", {"model": "chat-model"}),
                resource(Route, "hosted", {"model": "hosted"}),
                resource(Route, "embed", {"model": "embedder"}),
            ),
            consumers=(consumer("sdk-user", KEY),),
        )
        driver = GatewayDriver("gateway", url, TOKEN)
        assert apply_plan(compute_plan(desired, driver.read()), driver).ok
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        aclient = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        yield Sdk(url, client, aclient)
        client.close()
        driver.close()


def test_chat_completion_sync(sdk: Sdk) -> None:
    answer = sdk.client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hello sdk"}]
    )
    assert answer.model == "chat"  # the route asked for, not the upstream's name
    assert answer.choices[0].message.content is not None
    assert answer.choices[0].message.content.startswith("hello sdk")
    assert answer.usage is not None
    assert answer.usage.completion_tokens == 3


def test_chat_completion_streamed_sync(sdk: Sdk) -> None:
    stream = sdk.client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("stream me")
    assert all(c.model == "chat" for c in chunks)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0


def test_async_client_streamed_and_not(sdk: Sdk) -> None:
    async def both() -> tuple[str, str]:
        answer = await sdk.aclient.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "async one"}]
        )
        stream = await sdk.aclient.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "async two"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await sdk.aclient.close()
        return answer.choices[0].message.content or "", text

    plain, streamed = asyncio.run(both())
    assert plain.startswith("async one")
    assert streamed.startswith("async two")


def test_max_completion_tokens_reaches_a_server_that_knows_only_max_tokens(sdk: Sdk) -> None:
    answer = sdk.client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "short"}],
        max_completion_tokens=5,
    )
    assert answer.choices[0].message.content is not None


def test_an_upstream_client_error_keeps_its_status_and_message(sdk: Sdk) -> None:
    # A hosted API is sent max_completion_tokens as is; this one refuses it.
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.client.chat.completions.create(
            model="hosted",
            messages=[{"role": "user", "content": "x"}],
            max_completion_tokens=5,
        )
    assert caught.value.status_code == 400
    assert "unknown field max_completion_tokens" in caught.value.message


def test_errors_are_the_sdks_exceptions(sdk: Sdk) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.client.chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        )
    assert "no route 'nope'" in missing.value.message
    with pytest.raises(openai.BadRequestError, match="non-empty list"):
        sdk.client.chat.completions.create(model="chat", messages=[])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{sdk.url}/v1", api_key="sk-wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError, match="use /v1/chat/completions"):
        sdk.client.embeddings.create(model="chat", input="x")


def test_unknown_paths_and_methods_answer_in_openais_format() -> None:
    with gateway() as url:
        for response in (
            httpx.get(f"{url}/v1/nothing-here"),
            httpx.get(f"{url}/v1/chat/completions"),
            httpx.post(f"{url}/v1/chat/completions", content=b"{not json"),
        ):
            error = response.json()["error"]
            assert response.status_code in (400, 404, 405)
            assert set(error) == {"message", "type", "param", "code"}


def test_models_list_and_retrieve(sdk: Sdk) -> None:
    assert sorted(m.id for m in sdk.client.models.list()) == ["chat", "embed", "hosted"]
    assert sdk.client.models.retrieve("chat").id == "chat"
    with pytest.raises(openai.NotFoundError):
        sdk.client.models.retrieve("absent")


def test_embeddings(sdk: Sdk) -> None:
    result = sdk.client.embeddings.create(model="embed", input=["one", "two"])
    assert result.model == "embed"
    assert len(result.data) == 2
    assert len(result.data[0].embedding) == 8
    assert result.data[0].embedding != result.data[1].embedding


@pytest.mark.parametrize(
    "extra", [{"stream": "yes"}, {"stream": True, "stream_options": "x"}, {"stream_options": [1]}]
)
def test_fields_the_gateway_reads_are_type_checked(sdk: Sdk, extra: dict[str, object]) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "x"}], **extra}
    response = httpx.post(
        f"{sdk.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
