"""What the environment's targets cannot express, as problems on the fields that ask for it."""

from __future__ import annotations

from collections.abc import Iterator

from controlplane.errors import Problem, Rule
from controlplane.serving import unsupported
from controlplane.spec import Budget, Consumer, Environment, Guardrail, Model, Route
from controlplane.validate.rules import EnvironmentResources

# The targets that serve requests: Routes, Guardrails, Budgets and Consumers need one of them.
ROUTING = ("gateway", "litellm")


def check_target_support(env: EnvironmentResources) -> Iterator[Problem]:
    environments = [e.resource for e in env.of_kind(Environment)]
    if len(environments) != 1:
        return
    environment = environments[0]
    assert isinstance(environment, Environment)
    by_ref = {item.resource.ref: item for item in env.located}
    models = [m.resource for m in env.of_kind(Model) if isinstance(m.resource, Model)]
    routes = [r.resource for r in env.of_kind(Route) if isinstance(r.resource, Route)]
    guardrails = [g.resource for g in env.of_kind(Guardrail) if isinstance(g.resource, Guardrail)]
    budgets = [b.resource for b in env.of_kind(Budget) if isinstance(b.resource, Budget)]
    consumers = [c.resource for c in env.of_kind(Consumer) if isinstance(c.resource, Consumer)]
    if not any(t.type in ROUTING for t in environment.spec.targets):
        for kind in (Route, Guardrail, Budget, Consumer):
            for item in env.of_kind(kind):
                yield item.problem(
                    ("spec",),
                    f"a {kind.KIND} in an environment whose targets route no requests",
                    "a gateway or litellm target beside it: vllm and kubernetes targets run "
                    "models, they do not route, guard or meter requests",
                    Rule.TARGET,
                )
    for target in environment.spec.targets:
        for gap in unsupported(target, models, routes, guardrails, budgets, consumers):
            item = by_ref[gap.resource]
            yield item.problem(
                gap.path,
                f"a field the {target.type} target {target.name!r} cannot express",
                f"not supported by {target.type}: {gap.reason}",
                Rule.TARGET,
            )
