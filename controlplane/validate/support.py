"""What the environment's targets cannot express, as problems on the fields that ask for it."""

from __future__ import annotations

from collections.abc import Iterator

from controlplane.errors import Problem, Rule
from controlplane.serving import unsupported
from controlplane.spec import Budget, Consumer, Environment, Guardrail, Model, Route
from controlplane.validate.rules import EnvironmentResources


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
    for target in environment.spec.targets:
        for gap in unsupported(target, models, routes, guardrails, budgets, consumers):
            item = by_ref[gap.resource]
            yield item.problem(
                gap.path,
                f"a field the {target.type} target {target.name!r} cannot express",
                f"not supported by {target.type}: {gap.reason}",
                Rule.TARGET,
            )
