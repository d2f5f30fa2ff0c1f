"""A LiteLLM proxy's own objects, made from Routes, Models and Guardrails.

- `LiteLLMDeployment`, one per (route, model) arm: `model_name` is the route, so clients call
  the route; `model_info.id` (`<route>:<model>`) is the stable key. Canary and variant shares
  become `weight` (LiteLLM's simple-shuffle picks by relative weight); an arm at 0% is left out.
  A route's fallback models are deployments of their own groups (`<route>:fallback:<model>`),
  named in `router_settings.fallbacks`, which LiteLLM tries in order when the route fails.
- `LiteLLMRouterSettings` (`router`): the fallbacks of the routes controlplane owns.
- `LiteLLMGuardrail`: PII and regex guardrails as LiteLLM's built-in content filter
  (`litellm_content_filter`), attached to the deployments of the routes that list them.

API keys stay references, in LiteLLM's `os.environ/VAR` form. The proxy strips `api_key` from
what it reports, so the reference is also kept in `model_info`, where it can be compared, in
controlplane's `env:VAR` form: LiteLLM resolves `os.environ/` strings in model_info too, and
would then show the key itself to anyone who may read /model/info.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controlplane.spec import DesiredState, Guardrail, Managed, Model, Route
from controlplane.spec.guardrail import Action, PiiEntity, PiiGuardrail, RegexGuardrail, Stage
from controlplane.spec.model import Framework
from controlplane.spec.state import ANNOTATION_PREFIX

DEPLOYMENT = "LiteLLMDeployment"
ROUTER = "LiteLLMRouterSettings"
GUARDRAIL = "LiteLLMGuardrail"
# Guardrails exist before the deployments that name them; fallbacks name deployments' groups.
KINDS = (GUARDRAIL, DEPLOYMENT, ROUTER)
ROUTER_NAME = "router"

# model_info keys controlplane writes (LiteLLM keeps unknown model_info keys as they are).
SOURCES = ANNOTATION_PREFIX + "sources"
API_KEY_REF = ANNOTATION_PREFIX + "api-key"
# The litellm_params controlplane owns: only these are compared; the proxy adds its own.
OWNED_PARAMS = (
    "model",
    "api_base",
    "weight",
    "timeout",
    "input_cost_per_token",
    "output_cost_per_token",
    "guardrails",
)
CONTENT_FILTER = "litellm_content_filter"

PII_PATTERNS: dict[PiiEntity, tuple[str, ...]] = {
    PiiEntity.EMAIL: ("email",),
    PiiEntity.PHONE: ("us_phone",),
    PiiEntity.CREDIT_CARD: ("credit_card",),
    PiiEntity.SSN: ("us_ssn",),
    PiiEntity.IP_ADDRESS: ("ipv4", "ipv6"),
    PiiEntity.IBAN: ("iban",),
}
FILTER_ACTIONS = {Action.BLOCK: "BLOCK", Action.REDACT: "MASK"}
MODES = {Stage.INPUT: "pre_call", Stage.OUTPUT: "post_call"}


def has_provider_prefix(model: Model) -> bool:
    """A hosted model LiteLLM can reach by name alone (`anthropic/claude-…`)."""
    return model.spec.framework is Framework.EXTERNAL_API and "/" in model.spec.base_model


def guardrail_unsupported(guardrail: Guardrail) -> str | None:
    """Why LiteLLM has no built-in equivalent of this guardrail, or None when it has one."""
    spec = guardrail.spec
    if not isinstance(spec, (PiiGuardrail, RegexGuardrail)):
        return (
            f"LiteLLM has no built-in {spec.type} guardrail; its equivalents call external "
            "services (Lakera, Presidio, Bedrock …) that controlplane does not configure"
        )
    if spec.action not in FILTER_ACTIONS:
        return (
            f"LiteLLM's content filter blocks or masks; it has no {spec.action.value!r} action "
            "that lets a match through and counts it"
        )
    return None


def env_reference(secret: str) -> str:
    """`env:VAR` in LiteLLM's own form."""
    return "os.environ/" + secret.removeprefix("env:")


def deployment_id(route: str, model: str, fallback: bool = False) -> str:
    return f"{route}:fallback:{model}" if fallback else f"{route}:{model}"


def arm_weights(route: Route) -> dict[str, float]:
    """Percent of the route's traffic per model; arms at 0 are left out (a LiteLLM deployment
    at weight 0 would still be picked when every other one fails its health)."""
    spec = route.spec
    canary = spec.canary.percent if spec.canary else 0.0
    stable_share = 100.0 - canary
    weights: dict[str, float] = {}
    arms = [(v.model, v.weight) for v in spec.variants] or [(spec.model, 100.0)]
    for model, weight in arms:
        weights[model] = weights.get(model, 0.0) + weight * stable_share / 100.0
    if spec.canary is not None:
        weights[spec.canary.model] = weights.get(spec.canary.model, 0.0) + canary
    return {m: round(w, 6) for m, w in weights.items() if w > 0}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _deployment(
    group: str, ident: str, model: Model, route: Route, weight: float | None
) -> Managed:
    spec = model.spec
    served = spec.adapter.name if spec.adapter is not None else spec.base_model
    if spec.endpoint is not None:
        params: dict[str, Any] = {"model": f"openai/{served}", "api_base": spec.endpoint}
    else:  # a hosted model, by LiteLLM's provider/model name
        params = {"model": spec.base_model}
    if weight is not None:
        params["weight"] = _number(weight)
    params["timeout"] = _number(route.spec.timeout.total_seconds())
    if spec.pricing is not None:
        params["input_cost_per_token"] = spec.pricing.input_per_1m / 1e6
        params["output_cost_per_token"] = spec.pricing.output_per_1m / 1e6
    if route.spec.guardrails:
        params["guardrails"] = list(route.spec.guardrails)
    info: dict[str, Any] = {"id": ident}
    if spec.api_key is not None:
        info[API_KEY_REF] = spec.api_key
    document = {"model_name": group, "litellm_params": params, "model_info": info}
    return Managed(DEPLOYMENT, ident, document, sources=(route.ref, model.ref))


def _guardrail(guardrail: Guardrail) -> Managed:
    spec = guardrail.spec
    action = FILTER_ACTIONS[spec.action]
    patterns: list[dict[str, Any]] = []
    if isinstance(spec, PiiGuardrail):
        for entity in spec.entities:
            patterns += [
                {"pattern_type": "prebuilt", "pattern_name": name, "action": action}
                for name in PII_PATTERNS[entity]
            ]
    elif isinstance(spec, RegexGuardrail):
        patterns = [
            {"pattern_type": "regex", "pattern": p, "name": f"pattern-{i}", "action": action}
            for i, p in enumerate(spec.patterns)
        ]
    document = {
        "guardrail_name": guardrail.name,
        "litellm_params": {
            "guardrail": CONTENT_FILTER,
            "mode": MODES[spec.stage],
            "patterns": patterns,
        },
    }
    return Managed(GUARDRAIL, guardrail.name, document, sources=(guardrail.ref,))


def wanted(desired: DesiredState) -> list[Managed]:
    """Everything the proxy should hold for this environment."""
    models = {m.name: m for m in desired.models}
    used_guardrails = {name for route in desired.routes for name in route.spec.guardrails}
    objects = [_guardrail(g) for g in desired.guardrails if g.name in used_guardrails]
    fallbacks: dict[str, list[str]] = {}
    for route in desired.routes:
        for name, weight in arm_weights(route).items():
            ident = deployment_id(route.name, name)
            objects.append(_deployment(route.name, ident, models[name], route, weight))
        for name in route.spec.fallbacks:
            ident = deployment_id(route.name, name, fallback=True)
            objects.append(_deployment(ident, ident, models[name], route, None))
            fallbacks.setdefault(route.name, []).append(ident)
    objects.append(
        Managed(
            ROUTER,
            ROUTER_NAME,
            {"fallbacks": router_fallbacks(fallbacks)},
            sources=tuple(r.ref for r in desired.routes if r.spec.fallbacks),
        )
    )
    return objects


def router_fallbacks(by_route: dict[str, list[str]]) -> list[dict[str, list[str]]]:
    """LiteLLM's list of one-key mappings, sorted by route so the document is deterministic."""
    return [{route: groups} for route, groups in sorted(by_route.items())]


def owned_fallbacks(fallbacks: Any) -> Iterator[tuple[str, list[str]]]:
    """The entries of a live `router_settings.fallbacks` that controlplane wrote: those whose
    groups are its fallback groups. Anything else in the list was put there by hand."""
    if not isinstance(fallbacks, list):
        return
    for entry in fallbacks:
        if not isinstance(entry, dict):
            continue
        for route, groups in entry.items():
            if (
                isinstance(groups, list)
                and groups
                and all(isinstance(g, str) and g.startswith(f"{route}:fallback:") for g in groups)
            ):
                yield route, list(groups)
