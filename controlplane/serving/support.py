"""What each target type can express of the config, and why not the rest.

Every field the schema accepts has an effect on the targets it is applied to, or is refused
here with the reason, at validate and at plan time: never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from controlplane.serving import kubernetes, litellm, vllm
from controlplane.spec import Budget, Consumer, Guardrail, Model, Route
from controlplane.spec.environment import (
    GatewayTargetConfig,
    KubernetesLayout,
    KubernetesTargetConfig,
    LiteLLMMode,
    LiteLLMTargetConfig,
    TargetConfig,
    VllmTargetConfig,
)
from controlplane.spec.model import Framework, Quantization, Task

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Unsupported:
    """A field a target cannot express: the resource (`Kind/name`), the field and why."""

    resource: str
    path: FieldPath
    reason: str


def unsupported(
    target: TargetConfig,
    models: Sequence[Model],
    routes: Sequence[Route],
    guardrails: Sequence[Guardrail],
    budgets: Sequence[Budget],
    consumers: Sequence[Consumer] = (),
) -> Iterator[Unsupported]:
    match target:
        case GatewayTargetConfig():
            return iter(())
        case LiteLLMTargetConfig():
            return _litellm(target, models, routes, guardrails, budgets, consumers)
        case VllmTargetConfig():
            return _vllm(target, models)
        case KubernetesTargetConfig():
            return _kubernetes(target, models)


ROUTE_FIELDS_LITELLM: dict[str, str] = {
    "stickiness": "LiteLLM picks a deployment per request (simple-shuffle by weight); it cannot "
    "keep a caller in one arm",
    "cascade": "LiteLLM has no confidence-based escalation from one model to another",
    "cache": "LiteLLM's response cache is proxy-wide (litellm_settings.cache), not per route",
    "rateLimits": "LiteLLM limits requests per virtual key, which lives in its database; a "
    "deployment's rpm/tpm would cap all callers together instead",
    "anonymous": "LiteLLM's keys are all-or-nothing for the proxy (its master key or virtual "
    "keys), not per route",
    "firstTokenTimeout": "LiteLLM's stream_timeout is per deployment and proxy-wide, not per route",
    "judge": "LiteLLM does not grade answers with another model; the embedded gateway does",
}


def _litellm(
    target: LiteLLMTargetConfig,
    models: Sequence[Model],
    routes: Sequence[Route],
    guardrails: Sequence[Guardrail],
    budgets: Sequence[Budget],
    consumers: Sequence[Consumer],
) -> Iterator[Unsupported]:
    for route in routes:
        spec = route.spec
        set_fields = {
            "stickiness": spec.stickiness is not None,
            "cascade": spec.cascade is not None,
            "cache": spec.cache.enabled,
            "rateLimits": spec.rate_limits.configured,
            "anonymous": spec.anonymous,
            "firstTokenTimeout": spec.first_token_timeout is not None,
            "judge": spec.judge is not None,
        }
        for field, is_set in set_fields.items():
            if is_set:
                yield Unsupported(route.ref, ("spec", field), ROUTE_FIELDS_LITELLM[field])
    used = {name for route in routes for _, name in route.model_refs()}
    for model in models:
        if model.name not in used:
            continue
        if model.spec.endpoint is None and not litellm.has_provider_prefix(model):
            yield Unsupported(
                model.ref,
                ("spec", "endpoint"),
                "LiteLLM needs an endpoint (api_base) for a self-hosted model, or a base model "
                "with a provider prefix (e.g. anthropic/claude-3-5-sonnet) for a hosted one",
            )
        if model.spec.task is Task.EMBEDDING:
            yield Unsupported(
                model.ref,
                ("spec", "task"),
                "LiteLLM answers /v1/embeddings from any deployment and controlplane does not "
                "mark embedding deployments there (model_info.mode), so the gateway's check "
                "that a route serves only its endpoint is not kept",
            )
        if model.spec.api_key is not None and not model.spec.api_key.startswith("env:"):
            yield Unsupported(
                model.ref,
                ("spec", "apiKey"),
                "LiteLLM reads credentials only from environment variables (os.environ/VAR); "
                "use an env: reference",
            )
    for guardrail in guardrails:
        reason = litellm.guardrail_unsupported(guardrail)
        if reason is not None:
            yield Unsupported(guardrail.ref, ("spec", "type"), reason)
    for consumer in consumers:
        yield Unsupported(
            consumer.ref,
            ("spec",),
            "LiteLLM's client keys are virtual keys in its database; controlplane does not "
            "write them yet",
        )
    for budget in budgets:
        yield Unsupported(
            budget.ref,
            ("spec",),
            "LiteLLM enforces budgets on virtual keys, teams and end users in its database"
            + (
                "; a proxy driven through its config file has none"
                if target.mode is LiteLLMMode.CONFIG_FILE
                else "; controlplane does not write them through the admin API yet"
            ),
        )


def _vllm(target: VllmTargetConfig, models: Sequence[Model]) -> Iterator[Unsupported]:
    for placement in vllm.placements(target, models):
        bases = sorted({m.spec.base_model for m in placement.models})
        for model in placement.models:
            if len(bases) > 1:
                yield Unsupported(
                    model.ref,
                    ("spec", "baseModel"),
                    f"vLLM server {placement.server.name!r} serves one base model, and its "
                    f"Models name {len(bases)}: {', '.join(bases)}",
                )
            adapter = model.spec.adapter
            if adapter is not None and not vllm.loadable(adapter.uri):
                yield Unsupported(
                    model.ref,
                    ("spec", "adapter", "uri"),
                    "vLLM's runtime LoRA API loads a local directory (an absolute path) or a "
                    "hub id (org/name); it does not fetch "
                    f"{adapter.uri.split(':', 1)[0]}: URIs",
                )
        by_name: dict[str, str] = {}
        for model in placement.models:
            adapter = model.spec.adapter
            if adapter is None:
                continue
            earlier = by_name.setdefault(adapter.name, adapter.uri)
            if earlier != adapter.uri:
                yield Unsupported(
                    model.ref,
                    ("spec", "adapter", "name"),
                    f"adapter {adapter.name!r} on server {placement.server.name!r} is "
                    "already loaded from another path by another Model",
                )


def _kubernetes(target: KubernetesTargetConfig, models: Sequence[Model]) -> Iterator[Unsupported]:
    """What the rendered manifests cannot say of the Models that run on the cluster."""
    for model in models:
        if not kubernetes.on_kubernetes(model):
            continue  # reached at an endpoint: nothing to run on the cluster
        spec = model.spec
        if spec.framework is not Framework.VLLM:
            yield Unsupported(
                model.ref,
                ("spec", "framework"),
                f"the kubernetes target renders vLLM servers only, not {spec.framework.value}",
            )
            continue
        if spec.quantization in (Quantization.INT8, Quantization.INT4):
            yield Unsupported(
                model.ref,
                ("spec", "quantization"),
                f"{spec.quantization.value} names a size, not a method: vLLM reads AWQ, GPTQ "
                "or bitsandbytes from a quantized checkpoint, so name that checkpoint as "
                "baseModel and its precision here (fp8, bf16 or fp16 are rendered as flags)",
            )
        if spec.api_key is not None:
            yield Unsupported(
                model.ref,
                ("spec", "apiKey"),
                "the rendered server takes no API key: a reference (env:, file:) is not a "
                "Kubernetes Secret; protect it with the cluster's network policy",
            )
        adapter = spec.adapter
        if (
            target.layout is KubernetesLayout.DEPLOYMENT
            and adapter is not None
            and not vllm.loadable(adapter.uri)
        ):
            yield Unsupported(
                model.ref,
                ("spec", "adapter", "uri"),
                "in the deployment layout vLLM loads an adapter from a local path or a hub id "
                f"(org/name), not {adapter.uri.split(':', 1)[0]}: URIs; the kserve layout "
                "downloads it with KServe's storage initializer",
            )
