"""Promotion: a rule that carries a change from one environment to the next by pull request.

Kargo's promotion without Kubernetes: once a change has been live in the `from` environment for
`after`, with every selected policy passing there, controlplane opens a pull request that applies
that change to the `to` environment's files (`controlplane.promotion.environment`). Rules live
under policies/ and are loaded into the desired state of their source environment.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import Duration, Name, Resource, SpecModel


class PromotionSpec(SpecModel):
    from_: Name = Field(
        alias="from",
        description="The source environment: where the change must have been live, with its "
        "policies passing, before it is carried.",
    )
    to: Name = Field(
        description="The target environment: whose files the promotion pull request changes."
    )
    after: Duration = Field(
        default=timedelta(hours=1),
        description="How long the change must have been live in the source environment.",
    )
    policies: list[Name] = Field(
        default_factory=list,
        description="Policies (SLOPolicy, CostPolicy or CanaryAnalysis, by name) that must pass "
        "in the source environment; each must select it. Empty: every policy that selects it.",
    )
    routes: list[Name] = Field(
        default_factory=list,
        description="Carry only changes that touch these routes of the source environment (the "
        "routes, and the models and guardrails they use); the others are listed as left out. "
        "Empty: every change.",
    )
    auto_merge: bool = Field(
        default=False,
        description="Merge the promotion pull request through the forge as soon as it is opened "
        "(git stays the truth; the reconciler applies the merge). Off: a human merges.",
    )


class Promotion(Resource):
    KIND: ClassVar[str] = "Promotion"
    SCOPE: ClassVar[str] = "policy"
    kind: Literal["Promotion"] = Field(description="Always Promotion.")
    spec: PromotionSpec = Field(
        description="Source and target environments, and when a change is carried."
    )

    @property
    def source(self) -> str:
        return self.spec.from_

    @property
    def target(self) -> str:
        return self.spec.to
