"""A real generative model behind both serving paths: llama.cpp serving Gemma-3-270M, reached
through the embedded gateway and through a LiteLLM proxy, each configured by controlplane from
the same Route and Model, and called with the official openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from controlplane import engine
from controlplane.gateway.auth import key_hash
from controlplane.plan import Outcome
from controlplane.targets import Target
from controlplane.targets.gateway import GatewayDriver
from controlplane.targets.litellm import LiteLLMDriver
from tests.support.processes import TOKEN, gateway, put_resource, simulator
from tests.support.serving import MASTER_KEY, gemma_server, litellm_proxy

CONFIG = """apiVersion: controlplane.dev/v1alpha1
kind: Environment
metadata: {{name: live}}
spec:
  targets:
    - type: gateway
      url: {gateway}
      token: env:TEST_GATEWAY_TOKEN
    - type: litellm
      url: {litellm}
      masterKey: env:TEST_LITELLM_MASTER_KEY
      configFile: {config_file}
      reloadCommand: [{reload}]
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: gemma}}
spec:
  baseModel: gemma-3-270m
  framework: openai-compatible
  endpoint: {llama}/v1
  pricing: {{inputPer1M: 0.01, outputPer1M: 0.02}}
---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  model: gemma
  timeout: 60s
"""


@dataclass
class Paths:
    gateway: str
    litellm: str


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paths]:
    tmp = tmp_path_factory.mktemp("real-model")
    mp = pytest.MonkeyPatch()
    mp.setenv("TEST_GATEWAY_TOKEN", TOKEN)
    mp.setenv("TEST_LITELLM_MASTER_KEY", MASTER_KEY)
    with (
        gemma_server(tmp / "llama.log") as llama,
        gateway() as gateway_url,
        litellm_proxy(tmp / "proxy") as proxy,
    ):
        folder = tmp / "config" / "environments" / "live"
        folder.mkdir(parents=True)
        (folder / "all.yaml").write_text(
            CONFIG.format(
                gateway=gateway_url,
                litellm=proxy.url,
                config_file=proxy.config_file,
                reload=proxy.reload_command[0],
                llama=llama,
            )
        )
        desired = engine.desired_state(tmp / "config", "live")
        targets: list[Target] = [
            GatewayDriver("gateway", gateway_url, TOKEN),
            LiteLLMDriver(
                "litellm",
                proxy.url,
                MASTER_KEY,
                config_file=str(proxy.config_file),
                reload_command=proxy.reload_command,
            ),
        ]
        for planned in engine.plan_targets(desired, targets):
            result = engine.apply_plan(planned.plan, planned.target)
            assert {r.outcome for r in result.results} == {Outcome.APPLIED}
            assert engine.plan_target(desired, planned.target).empty
        # LiteLLM cannot hold Consumers, so this environment declares none: the gateway's
        # client is added by hand (the environment does not prune), with the same key.
        client = {"keys": [{"name": "k", "sha256": key_hash(MASTER_KEY)}]}
        put_resource(gateway_url, "Consumer", "client", client).raise_for_status()
        yield Paths(gateway=gateway_url, litellm=proxy.url)
    mp.undo()


def ask(base_url: str, key: str, stream: bool = False) -> tuple[str, int]:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=120)
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "Name three colours."}
    ]
    if stream:
        chunks = client.chat.completions.create(
            model="chat", messages=messages, max_tokens=8, temperature=0, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, -1
    answer = client.chat.completions.create(
        model="chat", messages=messages, max_tokens=8, temperature=0
    )
    assert answer.usage is not None
    return answer.choices[0].message.content or "", answer.usage.completion_tokens


@pytest.mark.parametrize("path", ["gateway", "litellm"])
def test_a_real_completion_goes_through_the_applied_route(paths: Paths, path: str) -> None:
    url = paths.gateway if path == "gateway" else paths.litellm
    text, tokens = ask(url, MASTER_KEY)
    assert text.strip(), "the model generated nothing"
    assert tokens == 8  # max_tokens reached the model through the route
    streamed, _ = ask(url, MASTER_KEY, stream=True)
    assert streamed.strip(), "the stream carried no text"


def test_a_stream_without_upstream_usage_still_counts_its_tokens(paths: Paths) -> None:
    """llama.cpp sends no usage in streams: the gateway counts the tokens, says they are
    estimated, and still gives the client that asked for usage its usage chunk."""
    client = openai.OpenAI(base_url=f"{paths.gateway}/v1", api_key=MASTER_KEY, timeout=120)
    chunks = list(
        client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "Name three colours."}],
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    metrics = httpx.get(f"{paths.gateway}/metrics").text
    assert 'llm_gateway_input_tokens_total{model="gemma",route="chat",variant="default"}' in metrics


def test_the_cascade_reads_a_real_models_token_probabilities(paths: Paths) -> None:
    """Gemma as the cascade's fast model: its own logprobs decide. At confidence 0 any answer
    with logprobs stands (one without them would escalate); at 0.999 none does."""
    with simulator("--ttft", "0", "--tpot", "0") as strong:
        endpoint = f"{strong}/v1"
        model = {"baseModel": "strong", "framework": "openai-compatible", "endpoint": endpoint}
        put_resource(paths.gateway, "Model", "strong", model).raise_for_status()
        for route, confidence in (("lenient", 0.0), ("strict", 0.999)):
            cascade = {"fast": "gemma", "strong": "strong", "confidence": confidence}
            spec = {"model": "strong", "cascade": cascade}
            put_resource(paths.gateway, "Route", route, spec).raise_for_status()
        answered = {}
        for route in ("lenient", "strict"):
            response = httpx.post(
                f"{paths.gateway}/v1/chat/completions",
                json={
                    "model": route,
                    "max_tokens": 8,
                    "temperature": 0,
                    "messages": [{"role": "user", "content": "Name three colours."}],
                },
                headers={"Authorization": f"Bearer {MASTER_KEY}"},
                timeout=120,
            )
            response.raise_for_status()
            answered[route] = response.headers["x-controlplane-model"]
            assert "logprobs" not in response.json()["choices"][0]  # not asked by the client
    assert answered == {"lenient": "gemma", "strict": "strong"}


def test_both_paths_give_the_same_greedy_answer(paths: Paths) -> None:
    assert ask(paths.gateway, MASTER_KEY)[0] == ask(paths.litellm, MASTER_KEY)[0]
