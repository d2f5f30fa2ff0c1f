"""Rules across fields and resources: names, references, weights, and policy consistency."""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from controlplane.config.documents import FieldPath
from controlplane.errors import Problem, Rule
from controlplane.policy.dialects import DIALECTS, Dialect
from controlplane.spec import (
    Budget,
    CanaryAnalysis,
    Consumer,
    CostPolicy,
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
    # The Promotion rules whose source (`from`) is this environment.
    promotions: tuple[Located, ...] = ()

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
        judge = item.resource.spec.judge
        if judge is not None and judge.route not in routes:
            path = ("spec", "judge", "route")
            yield _missing(item, path, "Route", judge.route, env.name, routes)
        elif judge is not None and judge.route == item.resource.name:
            yield item.problem(
                ("spec", "judge", "route"),
                f"the route itself ({judge.route!r}) as its own judge",
                "another Route, whose model grades this one's answers",
                Rule.REFERENCE,
            )
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
            steps = spec.canary.steps
            if steps and any(b <= a for a, b in itertools.pairwise(steps)):
                yield item.problem(
                    ("spec", "canary", "steps"),
                    f"steps {', '.join(f'{s:g}' for s in steps)}",
                    "percents in ascending order, each once",
                    Rule.CANARY,
                )
            elif steps and spec.canary.percent not in (0, *steps):
                yield item.problem(
                    ("spec", "canary", "percent"),
                    f"{spec.canary.percent:g}, which is not one of the steps "
                    f"({', '.join(f'{s:g}' for s in steps)})",
                    "the step the canary is at, or 0 (stopped: no promotion)",
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
        if isinstance(policy, Experiment):
            continue  # check_experiments
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
    assert isinstance(policy, (SLOPolicy, CostPolicy, CanaryAnalysis, Experiment))
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
    elif isinstance(policy, Experiment):
        yield from _check_experiment(item, policy)
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


def dialect_of(env: EnvironmentResources) -> Dialect:
    """The metric names the environment's serving layer exports (its Prometheus dialect)."""
    environment = next(
        (i.resource for i in env.of_kind(Environment) if isinstance(i.resource, Environment)),
        None,
    )
    config = environment.spec.prometheus if environment else None
    return DIALECTS[config.dialect if config else "gateway"]


def check_latency_buckets(env: EnvironmentResources) -> Iterator[Problem]:
    """A latency SLI threshold must be a bucket bound of the histogram it is read from."""
    dialect = dialect_of(env)
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


def check_canary_signals(env: EnvironmentResources) -> Iterator[Problem]:
    """A canary check must read metrics the environment's serving layer exports."""
    dialect = dialect_of(env)
    for item in env.policies:
        policy = item.resource
        if not isinstance(policy, CanaryAnalysis):
            continue
        missing = [
            (field, what)
            for field, what, has in (
                ("errors", "failed requests", dialect.errors),
                ("feedback", "user feedback", dialect.feedback),
            )
            if getattr(policy.spec, field) is not None and not has
        ]
        for field, what in missing:
            yield item.problem(
                ("spec", field),
                f"a {field} check in environment {env.name!r}, whose {dialect.name} metrics "
                f"have no {what}: it is not supported by that target",
                "checks on metrics the environment's Prometheus dialect records",
                Rule.POLICY,
            )


# --- promotions ---------------------------------------------------------------------------------


def promotions_from(promotions: Iterable[Located], environment: str) -> tuple[Located, ...]:
    """The Promotion rules whose source (`from`) is `environment`."""
    return tuple(
        item
        for item in promotions
        if isinstance(item.resource, Promotion) and item.resource.source == environment
    )


def check_promotions(
    promotions: Sequence[Located], policies: Sequence[Located], environments: Sequence[str]
) -> Iterator[Problem]:
    """Promotion rules: both environments exist and differ, no chain of rules leads back to a
    rule's source, and the policies a rule waits for exist and select its source."""
    selections: dict[str, list[list[str]]] = {}  # policy name -> the environments each selects
    for item in policies:
        policy = item.resource
        if isinstance(policy, (SLOPolicy, CostPolicy, CanaryAnalysis)):
            selections.setdefault(policy.name, []).append(policy.spec.selector.environments)
    edges: dict[str, set[str]] = {}
    for item in promotions:
        assert isinstance(item.resource, Promotion)
        edges.setdefault(item.resource.source, set()).add(item.resource.target)
    for item in promotions:
        rule = item.resource
        assert isinstance(rule, Promotion)
        for field, name in (("from", rule.source), ("to", rule.target)):
            if name not in environments:
                yield item.problem(
                    ("spec", field),
                    f"environment {name!r}, which has no folder under environments/",
                    f"one of: {', '.join(environments) or 'none'}",
                    Rule.REFERENCE,
                )
        back = _promotion_path(edges, rule.target, rule.source)
        if rule.source == rule.target:
            yield item.problem(
                ("spec", "to"),
                f"{rule.target!r}, the environment it promotes from",
                "a target environment other than the source",
                Rule.POLICY,
            )
        elif back is not None:
            yield item.problem(
                ("spec", "to"),
                f"a cycle of promotions: {' → '.join([rule.source, *back])}",
                "promotions that never lead back to an environment they start from",
                Rule.POLICY,
            )
        yield from _duplicates(item, rule.spec.policies, ("spec", "policies"), "policy")
        yield from _duplicates(item, rule.spec.routes, ("spec", "routes"), "route")
        for i, name in enumerate(rule.spec.policies):
            selected = selections.get(name)
            if selected is None:
                yield item.problem(
                    ("spec", "policies", i),
                    f"policy {name!r}, which policies/ does not hold",
                    f"one of its policies: {', '.join(sorted(selections)) or 'none'}",
                    Rule.REFERENCE,
                )
            elif not any(not chosen or rule.source in chosen for chosen in selected):
                yield item.problem(
                    ("spec", "policies", i),
                    f"policy {name!r}, which does not select environment {rule.source!r}",
                    f"a policy judged in {rule.source!r}: its selector.environments names it "
                    "(or is empty)",
                    Rule.REFERENCE,
                )


def _promotion_path(edges: Mapping[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The environments from `start` to `goal` along promotion rules (breadth first, in name
    order, so the shortest and the same path every time), or None when there is none."""
    previous = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return path[::-1]
        for following in sorted(edges.get(node, ())):
            if following not in previous:
                previous[following] = node
                queue.append(following)
    return None


def check_promotion_routes(env: EnvironmentResources) -> Iterator[Problem]:
    """The routes a Promotion rule is limited to exist in its source environment."""
    routes = env.names(Route)
    for item in env.promotions:
        assert isinstance(item.resource, Promotion)
        for i, name in enumerate(item.resource.spec.routes):
            if name not in routes:
                yield _missing(item, ("spec", "routes", i), "Route", name, env.name, routes)


def _check_experiment(item: Located, experiment: Experiment) -> Iterator[Problem]:
    """An Experiment on its own: each variant and each metric once."""
    spec = experiment.spec
    yield from _duplicates(item, spec.variants, ("spec", "variants"), "variant")
    metrics = [spec.primary.value, *(g.metric.value for g in spec.guardrails)]
    for i, metric in enumerate(metrics[1:]):
        if metric in metrics[: i + 1]:
            yield item.problem(
                ("spec", "guardrails", i, "metric"),
                f"{metric}, already the primary metric or another guardrail",
                "each metric once: the primary, or a guardrail",
                Rule.POLICY,
            )


def check_experiments(env: EnvironmentResources) -> Iterator[Problem]:
    """An Experiment's route exists in every environment it selects, its variants are that
    route's variants, and the environment's metrics tell its variants and metrics apart."""
    routes = {i.resource.name: i.resource for i in env.of_kind(Route)}
    dialect = dialect_of(env)
    exported = {
        "error-ratio": dialect.errors,
        "cost-per-1k": dialect.cost,
        "thumbs-up": dialect.feedback,
        "judge-score": dialect.judge_score,
    }
    for item in env.policies:
        experiment = item.resource
        if not isinstance(experiment, Experiment):
            continue
        spec = experiment.spec
        route = routes.get(spec.route)
        if not isinstance(route, Route):
            known = env.names(Route)
            if spec.route not in known:  # declared but broken: reported where it is
                yield _missing(item, ("spec", "route"), "Route", spec.route, env.name, known)
            continue
        arms = [v.name for v in route.spec.variants]
        if not arms:
            yield item.problem(
                ("spec", "route"),
                f"route {route.name!r}, which has no variants in environment {env.name!r}",
                "a route whose spec.variants include the experiment's variants",
                Rule.REFERENCE,
            )
        for i, name in enumerate(spec.variants if arms else []):
            if name not in arms:
                yield item.problem(
                    ("spec", "variants", i),
                    f"variant {name!r}, which route {route.name!r} does not have in environment "
                    f"{env.name!r}",
                    f"one of the route's spec.variants: {', '.join(arms)}",
                    Rule.REFERENCE,
                )
        if not dialect.variant_label:
            yield item.problem(
                ("spec", "route"),
                f"an experiment in environment {env.name!r}, whose {dialect.name} metrics have "
                "no variant label",
                "an environment whose Prometheus dialect labels variants (gateway)",
                Rule.POLICY,
            )
            continue
        metrics: list[tuple[FieldPath, str]] = [(("spec", "primary"), spec.primary.value)]
        metrics += [
            (("spec", "guardrails", i, "metric"), g.metric.value)
            for i, g in enumerate(spec.guardrails)
        ]
        for path, metric in metrics:
            if exported.get(metric) == "":
                yield item.problem(
                    path,
                    f"{metric}, which the {dialect.name} metrics of environment {env.name!r} "
                    "do not record",
                    "a metric the environment's Prometheus dialect records",
                    Rule.POLICY,
                )
