"""Budget: a USD limit on spend, enforced by the gateway."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import Resource, SpecModel, ThresholdPercent, Usd


class ScopeType(StrEnum):
    TEAM = "team"
    ROUTE = "route"
    MODEL = "model"
    CONSUMER = "consumer"


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"


class BudgetScope(SpecModel):
    type: ScopeType = Field(description="What the budget counts: a team, route, model or consumer.")
    name: str = Field(
        min_length=1,
        description="The team name, or the Route, Model or Consumer it refers to.",
    )


class BudgetAction(StrEnum):
    NOTIFY = "notify"
    THROTTLE = "throttle"
    BLOCK = "block"


class BudgetThreshold(SpecModel):
    percent: ThresholdPercent = Field(
        description="Share of the limit spent at which the action fires."
    )
    action: BudgetAction = Field(
        description="notify: report it (metric and log event); throttle: halve the rate "
        "limits of what it counts; block: answer 429 until the period resets."
    )


class BudgetSpec(SpecModel):
    scope: BudgetScope = Field(description="Who or what the budget applies to.")
    period: Period = Field(description="The period the limit resets on: day or month (UTC).")
    limit_usd: Usd = Field(description="Spend allowed per period, in USD.")
    thresholds: list[BudgetThreshold] = Field(
        default_factory=list, description="Actions at shares of the limit, in ascending order."
    )


class Budget(Resource):
    KIND: ClassVar[str] = "Budget"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Budget"] = Field(description="Always Budget.")
    spec: BudgetSpec = Field(description="Scope, period, limit and thresholds.")


# Scopes that name another resource, and the kind they must resolve to.
SCOPE_REFERENCE_KIND = {
    ScopeType.ROUTE: "Route",
    ScopeType.MODEL: "Model",
    ScopeType.CONSUMER: "Consumer",
}
