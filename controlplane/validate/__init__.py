"""Validate a loaded config: every problem at once, each with file, line and field.

Pure: it takes the loaded documents and returns problems and, for each clean environment, its
desired state. Order of checks: inline secrets (always, on raw text), then structure per document,
then rules across resources on what parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from controlplane.config.documents import Document, LoadedConfig, environment_of
from controlplane.errors import Problem, Rule
from controlplane.spec import (
    Budget,
    CanaryAnalysis,
    Consumer,
    CostPolicy,
    DesiredState,
    Environment,
    Experiment,
    GpuPool,
    Guardrail,
    Model,
    Promotion,
    Resource,
    Route,
    SLOPolicy,
)
from controlplane.validate.capacity import check_placement
from controlplane.validate.rules import (
    EnvironmentResources,
    check_budgets,
    check_canary_signals,
    check_consumers,
    check_environment_resource,
    check_experiments,
    check_guardrails,
    check_latency_buckets,
    check_policy,
    check_policy_targets,
    check_promotion_routes,
    check_promotions,
    check_references,
    check_routes,
    check_unique_names,
    promotions_from,
)
from controlplane.validate.secrets import find_inline_secrets
from controlplane.validate.structure import Located, parse_resource
from controlplane.validate.support import check_target_support

__all__ = ["Validation", "validate_config"]

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True)
class Validation:
    problems: tuple[Problem, ...]
    states: Mapping[str, DesiredState]

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_config(loaded: LoadedConfig, environments: Sequence[str] | None = None) -> Validation:
    """Validate the environments named (all when None), and the policies that select them."""
    selected = tuple(environments) if environments is not None else loaded.environments

    def in_scope(file: str) -> bool:
        environment = environment_of(file)
        return environment is None or environment in selected

    problems: list[Problem] = [p for p in loaded.problems if in_scope(p.file)]
    secret_problems = find_inline_secrets(
        {f: t for f, t in loaded.texts.items() if in_scope(f)},
        tuple(d for d in loaded.documents if in_scope(d.file)),
    )
    problems += secret_problems

    parsed: list[Located] = []
    for document in loaded.documents:
        if not in_scope(document.file):
            continue
        located, document_problems = parse_resource(document, environment_of(document.file))
        problems += document_problems
        if located is not None:
            parsed.append(located)

    policies = [p for p in parsed if p.environment is None]
    problems += check_unique_names(policies)
    promotions = [p for p in policies if isinstance(p.resource, Promotion)]
    policies = [p for p in policies if not isinstance(p.resource, Promotion)]
    problems += check_promotions(promotions, policies, loaded.environments)
    for policy in policies:
        problems += check_policy(policy, loaded.environments)

    states: dict[str, DesiredState] = {}
    for name in selected:
        env = EnvironmentResources(
            name=name,
            located=tuple(p for p in parsed if p.environment == name),
            policies=tuple(p for p in policies if _selects(p.resource, name)),
            declared=_declared_names(d for d in loaded.documents if environment_of(d.file) == name),
            promotions=promotions_from(promotions, name),
        )
        problems += [
            *check_environment_resource(env),
            *check_unique_names(env.located),
            *check_references(env),
            *check_placement(env.of_kind(GpuPool), env.of_kind(Model)),
            *check_routes(env),
            *check_guardrails(env),
            *check_budgets(env),
            *check_consumers(env),
            *check_policy_targets(env),
            *check_latency_buckets(env),
            *check_canary_signals(env),
            *check_target_support(env),
            *check_promotion_routes(env),
            *check_experiments(env),
        ]
        state = _desired_state(env)
        if state is not None:
            states[name] = state

    unique = _drop_shadowed(sorted(set(problems)), secret_problems)
    # An environment has a desired state only when nothing in it, or in policies/, is wrong.
    dirty = {environment_of(p.file) for p in unique}
    clean_states = {name: state for name, state in states.items() if not dirty & {name, None}}
    return Validation(problems=tuple(unique), states=clean_states)


def _declared_names(documents: Iterable[Document]) -> dict[str, frozenset[str]]:
    names: dict[str, set[str]] = {}
    for document in documents:
        data = document.data
        metadata = data.get("metadata") if isinstance(data, dict) else None
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if isinstance(data, dict) and isinstance(data.get("kind"), str) and isinstance(name, str):
            names.setdefault(data["kind"], set()).add(name)
    return {kind: frozenset(found) for kind, found in names.items()}


def _selects(policy: Resource, environment: str) -> bool:
    assert isinstance(policy, (SLOPolicy, CostPolicy, CanaryAnalysis, Experiment))
    chosen = policy.spec.selector.environments
    return not chosen or environment in chosen


def _drop_shadowed(problems: list[Problem], secrets: list[Problem]) -> list[Problem]:
    """A field reported as an inline secret needs no second, schema-level report."""
    secret_fields = {(p.file, p.path) for p in secrets if p.path}
    return [p for p in problems if p.rule == Rule.SECRET or (p.file, p.path) not in secret_fields]


def _desired_state(env: EnvironmentResources) -> DesiredState | None:
    environments = _typed(env.located, Environment)
    if len(environments) != 1:
        return None
    return DesiredState(
        environment=environments[0],
        pools=_typed(env.located, GpuPool),
        models=_typed(env.located, Model),
        guardrails=_typed(env.located, Guardrail),
        budgets=_typed(env.located, Budget),
        routes=_typed(env.located, Route),
        consumers=_typed(env.located, Consumer),
        slo_policies=_typed(env.policies, SLOPolicy),
        cost_policies=_typed(env.policies, CostPolicy),
        canary_analyses=_typed(env.policies, CanaryAnalysis),
        promotions=_typed(env.promotions, Promotion),
        experiments=_typed(env.policies, Experiment),
    )


def _typed(items: Iterable[Located], kind: type[R]) -> tuple[R, ...]:
    """The resources of one kind, sorted by name, so a desired state is deterministic."""
    found = [item.resource for item in items if isinstance(item.resource, kind)]
    return tuple(sorted(found, key=lambda r: r.name))
