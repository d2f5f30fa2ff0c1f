"""What the config becomes in LiteLLM's and vLLM's terms, and what each refuses, from the
shipped prod config with its target swapped."""

from __future__ import annotations

from pathlib import Path

from controlplane.errors import Rule
from controlplane.serving import litellm, vllm
from controlplane.spec import DesiredState, LiveState, Managed
from controlplane.spec.environment import VllmServer, VllmTargetConfig
from tests.support.config import edit, validate

GATEWAY = """    - type: gateway
      url: https://llm-gateway.prod.example.com
      token: env:CONTROLPLANE_GATEWAY_TOKEN    # a reference: the token itself never enters git
"""
LITELLM = """    - type: litellm
      url: http://127.0.0.1:4000
      masterKey: env:LITELLM_MASTER_KEY
      configFile: /etc/litellm/config.yaml
      reloadCommand: [systemctl, restart, litellm]
"""


def test_litellm_refuses_what_it_cannot_express_each_with_its_field_and_reason(
    config: Path,
) -> None:
    edit(config, "environments/prod/environment.yaml", GATEWAY, LITELLM)
    problems = [p for p in validate(config, ["prod"]).problems if p.rule == Rule.TARGET]
    found = {(p.resource, p.path) for p in problems}
    assert {
        ("Route/chat", "spec.stickiness"),
        ("Route/chat", "spec.cascade"),
        ("Route/chat", "spec.cache"),
        ("Route/chat", "spec.rateLimits"),
        ("Guardrail/prompt-injection", "spec.type"),
        ("Consumer/search-app", "spec"),
        ("Consumer/support-bot", "spec"),
    } <= found
    assert any(r.startswith("Budget/") and path == "spec" for r, path in found)
    edit(
        config,
        "environments/prod/routes.yaml",
        "  timeout: 30s",
        "  timeout: 30s\n  anonymous: true\n  firstTokenTimeout: 2s",
    )
    problems = [p for p in validate(config, ["prod"]).problems if p.rule == Rule.TARGET]
    found = {(p.resource, p.path) for p in problems}
    assert {("Route/chat", "spec.anonymous"), ("Route/chat", "spec.firstTokenTimeout")} <= found
    budget = next(p for p in problems if p.resource.startswith("Budget/"))
    assert "a proxy driven through its config file has none" in budget.expected
    assert all(p.line > 0 and p.file.startswith("environments/prod/") for p in problems)


def test_config_file_mode_needs_its_file_and_command(config: Path) -> None:
    edit(
        config, "environments/prod/environment.yaml", GATEWAY, LITELLM.split("      configFile")[0]
    )
    [problem] = [p for p in validate(config, ["prod"]).problems if p.rule == Rule.SCHEMA]
    assert "config-file mode needs configFile and reloadCommand" in problem.expected + problem.found


def test_canary_and_variant_shares_become_weights_and_zero_arms_are_left_out(
    config: Path,
) -> None:
    state = validate(config, ["prod"]).states["prod"]
    [route] = [r for r in state.routes if r.name == "chat"]
    weights = litellm.arm_weights(route)
    assert sum(weights.values()) == 100
    assert route.spec.canary is not None
    assert weights[route.spec.canary.model] == route.spec.canary.percent
    zero = route.model_copy(
        update={
            "spec": route.spec.model_copy(
                update={"canary": route.spec.canary.model_copy(update={"percent": 0})}
            )
        }
    )
    assert route.spec.canary.model not in litellm.arm_weights(zero)


def test_fallbacks_written_by_hand_are_not_ours() -> None:
    live = [{"chat": ["chat:fallback:b"]}, {"chat": ["someone-elses"]}, {"x": ["chat:fallback:b"]}]
    assert list(litellm.owned_fallbacks(live)) == [("chat", ["chat:fallback:b"])]
    assert list(litellm.owned_fallbacks("not a list")) == []


def test_vllm_adapter_uris_it_can_load() -> None:
    assert vllm.loadable("/srv/adapters/support-v2")
    assert vllm.loadable("org/support-lora")
    assert not vllm.loadable("s3://models/chat-lora-v1/")
    assert not vllm.loadable("relative/path/more")


def test_a_vllm_server_with_a_longer_context_than_asked_is_wanted_as_it_is(config: Path) -> None:
    state = validate(config, ["prod"]).states["prod"]
    model = next(m for m in state.models if m.spec.max_model_len and m.spec.framework == "vllm")
    assert model.spec.endpoint is not None
    target = VllmTargetConfig(type="vllm", servers=[VllmServer(name="a", url=model.spec.endpoint)])
    desired = DesiredState(environment=state.environment, models=(model,))
    longer = model.spec.max_model_len * 2  # type: ignore[operator]
    held = Managed(vllm.SERVER, "a", {"model": model.spec.base_model, "maxModelLen": longer})
    [server, *_] = vllm.wanted(target, desired, LiveState(resources=(), objects=(held,)))
    assert server.document == held.document
    shorter = Managed(vllm.SERVER, "a", {"model": model.spec.base_model, "maxModelLen": 1})
    [server, *_] = vllm.wanted(target, desired, LiveState(resources=(), objects=(shorter,)))
    assert server.document["maxModelLen"] == model.spec.max_model_len
