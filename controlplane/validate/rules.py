"""Rules across fields and resources: names, references, weights, and policy consistency."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from controlplane.config.documents import FieldPath
from controlplane.errors import Problem, Rule
from controlplane.policy.dialects import DIALECTS
from controlplane.spec import (
    Budget,
    CanaryAnalysis,
    Consumer,
    CostPolicy,
    Environment,
    GpuPool,
    Guardrail,
    Model,
    Resource,
    Route,
    SLOPolicy,
)
from controlplane.spec.base import format_duration
from controlplane.spec.budget import SCOPE_REFERENCE_KIND, BudgetAction, ScopeType
from controlplane.spec.guardrail import REDACTABLE_TYPES, RegexGuardrail
from controlplane.spec.policy import BurnRateWindow, LatencySli
from controlplane.validate.structure import Located


@dataclass(frozen=True)
class EnvironmentResources:
    """The parsed resources of one environment folder, and the policies that select it."""

    name: str
    located: tuple[Located, ...]
    policies: tuple[Located, ...]
    # Kind -> every name the environment's documents declare, parsed or not, so that one broken
    # Model does not also show up as a dangling reference in every Route that names it.
    declared: Mapping[str, frozenset[str]]

    def of_kind(self, kind: type[Resource]) -> list[Located]:
        return [item for item in self.located if isinstance(item.resource, kind)]

    def names(self, kind: type[Resource]) -> frozenset[str]:
        return self.declared.get(kind.KIND, frozenset())


def check_unique_names(located: Iterable[Located]) -> Iterator[Problem]:
    first: dict[tuple[str, str], Located] = {}
    for item in located:
        key = (item.resource.KIND, item.resource.name)
        if key in first:
            earlier = first[key].document
            yield item.problem(
                ("metadata", "name"),
                f"a second {key[0]} named {key[1]!r} (first at {earlier.file}:{earlier.line})",
                f"names unique per kind in {_where(item)}",
                Rule.UNIQUE,
            )
        else:
            first[key] = item


def _where(item: Located) -> str:
    return f"environment {item.environment!r}" if item.environment else "policies/"


def check_environment_resource(env: EnvironmentResources) -> Iterator[Problem]:
    found = env.of_kind(Environment)
    for item in found:
        if item.resource.name != env.name:
            yield item.problem(
                ("metadata", "name"),
                repr(item.resource.name),
                f"{env.name!r}, the name of its folder environments/{env.name}/",
                Rule.LAYOUT,
            )
    if not found:
        file = min((i.document.file for i in env.located), default=f"environments/{env.name}/")
        yield Problem(
            file=file,
            line=1,
            path="",
            found=f"no Environment resource in environments/{env.name}/",
            expected=f"one Environment named {env.name!r} (conventionally in environment.yaml)",
            rule=Rule.LAYOUT,
        )


def _missing(
    item: Located, path: FieldPath, kind: str, name: str, env: str, known: frozenset[str]
) -> Problem:
    return item.problem(
        path,
        f"a reference to {kind} {name!r}, which environment {env!r} does not have",
        f"one of its {kind} names: {', '.join(sorted(known)) or 'none'}",
        Rule.REFERENCE,
    )


def check_references(env: EnvironmentResources) -> Iterator[Problem]:
    models = env.names(Model)
    pools = env.names(GpuPool)
    guardrails = env.names(Guardrail)
    routes = env.names(Route)
    known_by_kind = {"Route": routes, "Model": models, "Consumer": env.names(Consumer)}

    for item in env.of_kind(Model):
        assert isinstance(item.resource, Model)
        pool = item.resource.spec.pool
        if pool is not None and pool not in pools:
            yield _missing(item, ("spec", "pool"), "GpuPool", pool, env.name, pools)
    for item in env.of_kind(Route):
        assert isinstance(item.resource, Route)
        for path, name in item.resource.model_refs():
            if name not in models:
                yield _missing(item, path, "Model", name, env.name, models)
        for i, name in enumerate(item.resource.spec.guardrails):
            if name not in guardrails:
                path = ("spec", "guardrails", i)
                yield _missing(item, path, "Guardrail", name, env.name, guardrails)
    for item in env.of_kind(Consumer):
        assert isinstance(item.resource, Consumer)
        for i, name in enumerate(item.resource.spec.routes):
            if name not in routes:
                yield _missing(item, ("spec", "routes", i), "Route", name, env.name, routes)
    for item in env.of_kind(Budget):
        assert isinstance(item.resource, Budget)
        scope = item.resource.spec.scope
        kind = SCOPE_REFERENCE_KIND.get(scope.type)
        if kind is not None and scope.name not in known_by_kind[kind]:
            path = ("spec", "scope", "name")
            yield _missing(item, path, kind, scope.name, env.name, known_by_kind[kind])


def check_routes(env: EnvironmentResources) -> Iterator[Problem]:
    replicas = {
        m.resource.name: m.resource.spec.replicas
        for m in env.of_kind(Model)
        if isinstance(m.resource, Model)
    }
    for item in env.of_kind(Route):
        route = item.resource
        assert isinstance(route, Route)
        spec = route.spec
        if spec.variants:
            total = sum(v.weight for v in spec.variants)
            if abs(total - 100) > 1e-9:
                yield item.problem(
                    ("spec", "variants"),
                    f"variant weights summing to {total:g} "
                    f"({' + '.join(f'{v.weight:g}' for v in spec.variants)})",
                    "weights that sum to 100",
                    Rule.WEIGHTS,
                )
            yield from _duplicates(
                item, [v.name for v in spec.variants], ("spec", "variants"), "variant name"
            )
        if spec.canary is not None:
            stable = {spec.model, *(v.model for v in spec.variants)}
            if spec.canary.model in stable:
                yield item.problem(
                    ("spec", "canary", "model"),
                    f"canary model {spec.canary.model!r}, which already serves the stable traffic",
                    "a model other than the default and the variants",
                    Rule.CANARY,
                )
        for i, name in enumerate(spec.fallbacks):
            if name == spec.model:
                yield item.problem(
                    ("spec", "fallbacks", i),
                    f"the default model {name!r} as its own fallback",
                    "models other than the default",
                    Rule.FALLBACKS,
                )
        yield from _duplicates(item, spec.fallbacks, ("spec", "fallbacks"), "fallback")
        yield from _duplicates(item, spec.guardrails, ("spec", "guardrails"), "guardrail")
        if spec.cascade is not None and spec.cascade.fast == spec.cascade.strong:
            yield item.problem(
                ("spec", "cascade", "strong"),
                f"the same model {spec.cascade.fast!r} twice",
                "a strong model different from the fast one",
                Rule.CASCADE,
            )
        for path, name in route.model_refs():
            if replicas.get(name) == 0:
                yield item.problem(
                    path,
                    f"model {name!r}, which has 0 replicas",
                    "a model with at least one replica, or remove it from the route",
                    Rule.REFERENCE,
                )


def _duplicates(
    item: Located, names: Sequence[str], path: FieldPath, what: str
) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            yield item.problem(
                (*path, i), f"{what} {name!r} listed twice", f"each {what} once", Rule.UNIQUE
            )
        seen.add(name)


def check_guardrails(env: EnvironmentResources) -> Iterator[Problem]:
    for item in env.of_kind(Guardrail):
        assert isinstance(item.resource, Guardrail)
        spec = item.resource.spec
        if spec.action.value == "redact" and spec.type not in REDACTABLE_TYPES:
            yield item.problem(
                ("spec", "action"),
                f"action redact on a {spec.type} guardrail",
                "block or flag: only pii and regex guardrails find a span to redact",
                Rule.GUARDRAIL,
            )
        if isinstance(spec, RegexGuardrail):
            for i, pattern in enumerate(spec.patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    yield item.problem(
                        ("spec", "patterns", i),
                        f"{pattern!r}, which does not compile: {exc}",
                        "a valid Python regular expression",
                        Rule.GUARDRAIL,
                    )


def check_consumers(env: EnvironmentResources) -> Iterator[Problem]:
    """A key must name one consumer: the same hash under two would make the caller ambiguous."""
    owner: dict[str, str] = {}
    for item in env.of_kind(Consumer):
        consumer = item.resource
        assert isinstance(consumer, Consumer)
        keys = consumer.spec.keys
        yield from _duplicates(item, [k.name for k in keys], ("spec", "keys"), "key name")
        seen: set[str] = set()
        for i, key in enumerate(keys):
            identity = key.sha256 or key.secret or ""
            first = owner.setdefault(identity, consumer.name)
            if identity in seen or first != consumer.name:
                yield item.problem(
                    ("spec", "keys", i),
                    "the same key twice" if identity in seen else f"a key Consumer/{first} lists",
                    "each key to identify exactly one consumer, once",
                    Rule.UNIQUE,
                )
            seen.add(identity)


def check_budgets(env: EnvironmentResources) -> Iterator[Problem]:
    routes = [r.resource for r in env.of_kind(Route) if isinstance(r.resource, Route)]
    consumers = [c.resource for c in env.of_kind(Consumer) if isinstance(c.resource, Consumer)]
    for item in env.of_kind(Budget):
        budget = item.resource
        assert isinstance(budget, Budget)
        percents = [t.percent for t in budget.spec.thresholds]
        yield from _ascending(item, percents, ("spec", "thresholds"))
        for i, threshold in enumerate(budget.spec.thresholds):
            if threshold.action is BudgetAction.THROTTLE and not _limits_to_halve(
                budget, routes, consumers
            ):
                yield item.problem(
                    ("spec", "thresholds", i, "action"),
                    "throttle, but no rate limit applies to what the budget counts",
                    "rateLimits on the routes or consumers it counts (throttle halves them), or "
                    "notify or block",
                    Rule.THRESHOLDS,
                )


def _limits_to_halve(budget: Budget, routes: list[Route], consumers: list[Consumer]) -> bool:
    """Whether a request the budget counts can meet a rate limit: the route's or the
    consumer's (the two the gateway checks)."""
    scope = budget.spec.scope
    if scope.type is ScopeType.ROUTE:
        routes = [r for r in routes if r.name == scope.name]
    elif scope.type is ScopeType.MODEL:
        routes = [r for r in routes if scope.name in {n for _, n in r.model_refs()}]
    if scope.type is ScopeType.CONSUMER:
        consumers = [c for c in consumers if c.name == scope.name]
    elif scope.type is ScopeType.TEAM:
        consumers = [c for c in consumers if c.spec.team == scope.name]
    return any(r.spec.rate_limits.configured for r in routes) or any(
        c.spec.rate_limits.configured for c in consumers
    )


def _ascending(item: Located, percents: list[float], path: FieldPath) -> Iterator[Problem]:
    if percents != sorted(set(percents)):
        yield item.problem(
            path,
            "threshold percents " + ", ".join(f"{p:g}" for p in percents),
            "strictly ascending percents, each once",
            Rule.THRESHOLDS,
        )


def check_policy_targets(env: EnvironmentResources) -> Iterator[Problem]:
    """Routes and models a policy names must exist in every environment it selects."""
    known_by_kind = {"Route": env.names(Route), "Model": env.names(Model)}
    for item in env.policies:
        policy = item.resource
        assert isinstance(policy, (SLOPolicy, CostPolicy, CanaryAnalysis))
        refs: list[tuple[FieldPath, str, str]] = [
            (("spec", "selector", "routes", i), "Route", name)
            for i, name in enumerate(policy.spec.selector.routes)
        ]
        if isinstance(policy, CostPolicy):
            refs += [
                (("spec", "budgets", i, "scope", "name"), kind, budget.scope.name)
                for i, budget in enumerate(policy.spec.budgets)
                if (kind := budget.scope.type.capitalize()) in known_by_kind
            ]
        for path, kind, name in refs:
            if name not in known_by_kind[kind]:
                yield _missing(item, path, kind, name, env.name, known_by_kind[kind])


def check_policy(item: Located, environments: Sequence[str]) -> Iterator[Problem]:
    """Checks of one policy on its own, and that the environments it selects exist."""
    policy = item.resource
    assert isinstance(policy, (SLOPolicy, CostPolicy, CanaryAnalysis))
    for i, name in enumerate(policy.spec.selector.environments):
        if name not in environments:
            yield item.problem(
                ("spec", "selector", "environments", i),
                f"environment {name!r}, which has no folder under environments/",
                f"one of: {', '.join(environments) or 'none'}",
                Rule.REFERENCE,
            )
    if isinstance(policy, SLOPolicy):
        spec = policy.spec
        yield from _duplicates(
            item, [o.name for o in spec.objectives], ("spec", "objectives"), "objective name"
        )
        yield from _duplicates(item, [g.name for g in spec.guards], ("spec", "guards"), "guard")
        for i, objective in enumerate(spec.objectives):
            for j, window in enumerate(objective.burn_rate.windows):
                yield from _check_burn_window(
                    item,
                    window,
                    objective.window,
                    ("spec", "objectives", i, "burnRate", "windows", j),
                )
        if not spec.objectives and not spec.guards:
            yield item.problem(
                ("spec",), "no objectives and no guards", "at least one of them", Rule.POLICY
            )
    elif isinstance(policy, CostPolicy):
        spec_c = policy.spec
        yield from _duplicates(
            item, [b.name for b in spec_c.budgets], ("spec", "budgets"), "budget name"
        )
        for i, budget in enumerate(spec_c.budgets):
            yield from _ascending(
                item, [t.percent for t in budget.thresholds], ("spec", "budgets", i, "thresholds")
            )
    else:
        spec_a = policy.spec
        for i, check in enumerate(spec_a.latency):
            if check.critical_increase_percent < check.allowed_increase_percent:
                yield item.problem(
                    ("spec", "latency", i, "criticalIncreasePercent"),
                    f"{check.critical_increase_percent:g}, below the allowed "
                    f"{check.allowed_increase_percent:g}",
                    "a critical increase at least as large as the allowed one",
                    Rule.POLICY,
                )
        if not spec_a.latency and spec_a.errors is None:
            yield item.problem(
                ("spec",),
                "no latency checks and no error check",
                "at least one of them",
                Rule.POLICY,
            )


def _check_burn_window(
    item: Located, window: BurnRateWindow, slo_window: timedelta, path: FieldPath
) -> Iterator[Problem]:
    if window.short >= window.long:
        yield item.problem(
            (*path, "short"),
            f"short window {format_duration(window.short)}, not shorter than the long window "
            f"{format_duration(window.long)}",
            "a short window shorter than the long one (the SRE Workbook uses 1/12)",
            Rule.POLICY,
        )
    if window.long > slo_window:
        yield item.problem(
            (*path, "long"),
            f"long window {format_duration(window.long)}, past the SLO window "
            f"{format_duration(slo_window)}",
            "a long window within the SLO window",
            Rule.POLICY,
        )


def check_latency_buckets(env: EnvironmentResources) -> Iterator[Problem]:
    """A latency SLI threshold must be a bucket bound of the histogram it is read from."""
    environment = next(
        (i.resource for i in env.of_kind(Environment) if isinstance(i.resource, Environment)),
        None,
    )
    config = environment.spec.prometheus if environment else None
    dialect = DIALECTS[config.dialect if config else "gateway"]
    for item in env.policies:
        policy = item.resource
        if not isinstance(policy, SLOPolicy):
            continue
        thresholds: list[tuple[FieldPath, str, timedelta]] = [
            (("spec", "objectives", i, "sli", "threshold"), o.sli.metric, o.sli.threshold)
            for i, o in enumerate(policy.spec.objectives)
            if isinstance(o.sli, LatencySli)
        ]
        thresholds += [
            (("spec", "guards", i, "threshold"), g.metric, g.threshold)
            for i, g in enumerate(policy.spec.guards)
        ]
        for path, metric, threshold in thresholds:
            bounds = dialect.buckets.get(metric)
            seconds = threshold.total_seconds()
            if bounds is None or seconds in bounds:
                continue
            below = max((b for b in bounds if b < seconds), default=None)
            above = min((b for b in bounds if b > seconds), default=None)
            nearest = " or ".join(
                format_duration(timedelta(seconds=b)) for b in (below, above) if b is not None
            )
            yield item.problem(
                path,
                f"{format_duration(threshold)}, which is not a bucket bound of the "
                f"{dialect.name} {metric} histogram in environment {env.name!r}",
                f"a bucket bound, such as the nearest: {nearest}",
                Rule.BUCKETS,
            )
