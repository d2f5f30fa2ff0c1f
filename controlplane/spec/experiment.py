"""Experiment: an A/B comparison of a route's variants, judged on evidence that stays valid
however often it is looked at.

Lives under policies/ and names the environments it runs in. Analysis is elsewhere
(controlplane.policy.experiment); this module only models the fields.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import Duration, Name, PositiveInt, Resource, SpecModel

# A tolerated degradation: relative percent or points, never negative, never absurd.
Tolerance = Annotated[float, Field(ge=0, le=1000)]


class ExperimentMetric(StrEnum):
    """What an experiment compares between variants. The better direction is implied."""

    TTFT = "ttft"  # mean time to first token
    E2E_LATENCY = "e2e-latency"  # mean end-to-end latency
    ERROR_RATIO = "error-ratio"  # failed requests / requests
    COST_PER_1K = "cost-per-1k"  # USD per 1,000 requests
    THUMBS_UP = "thumbs-up"  # thumbs up / all thumbs given as feedback
    JUDGE_SCORE = "judge-score"  # mean 0..1 score given by the judge

    @property
    def higher_is_better(self) -> bool:
        return self in (ExperimentMetric.THUMBS_UP, ExperimentMetric.JUDGE_SCORE)

    @property
    def relative(self) -> bool:
        """Compared as a relative change in percent (latency, cost); otherwise as a difference
        in points, hundredths of the 0..1 scale (ratios and scores)."""
        return self in (
            ExperimentMetric.TTFT,
            ExperimentMetric.E2E_LATENCY,
            ExperimentMetric.COST_PER_1K,
        )

    @property
    def unit(self) -> str:
        return "%" if self.relative else " points"


class ExperimentSelector(SpecModel):
    environments: list[Name] = Field(
        default_factory=list, description="Environments the experiment runs in; empty means all."
    )


class ExperimentGuardrail(SpecModel):
    metric: ExperimentMetric = Field(
        description="ttft, e2e-latency, error-ratio, cost-per-1k, thumbs-up or judge-score."
    )
    tolerance: Tolerance = Field(
        description="Degradation of a treatment against the control that is tolerated: percent "
        "of the control's value for ttft, e2e-latency and cost-per-1k; points (hundredths of the "
        "0..1 scale) for error-ratio, thumbs-up and judge-score. A treatment shown worse than "
        "this loses.",
    )


class ExperimentSpec(SpecModel):
    selector: ExperimentSelector = Field(
        default_factory=ExperimentSelector, description="Where the experiment runs."
    )
    route: Name = Field(description="The Route whose variants are compared.")
    variants: list[Name] = Field(
        min_length=2,
        max_length=10,
        description="Names of the route's spec.variants to compare; the first is the control, "
        "each other one a treatment compared with it.",
    )
    primary: ExperimentMetric = Field(
        description="The metric a winner must be shown better on: ttft, e2e-latency, "
        "error-ratio, cost-per-1k (lower is better), thumbs-up or judge-score (higher is better)."
    )
    guardrails: list[ExperimentGuardrail] = Field(
        default_factory=list,
        max_length=6,
        description="Metrics a winner must not be shown worse on, beyond their tolerance.",
    )
    min_samples_per_group: PositiveInt = Field(
        default=1000,
        description="Fewest samples of a metric in each variant (requests; feedback for "
        "thumbs-up; judged requests for judge-score) before it is judged.",
    )
    alpha: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.05,
        description="The experiment's rate of false verdicts (a winner or loser where the "
        "variants do not differ), however often it is looked at: half for the primary metric "
        "and half for the guardrails, each split evenly over the treatments (and guardrails).",
    )
    interval: Duration = Field(
        default=timedelta(hours=1), description="How often the experiment is looked at."
    )
    max_duration: Duration = Field(
        default=timedelta(days=14),
        description="The experiment ends this long after it went live; then a variant not "
        "shown different is reported as no difference.",
    )
    max_looks: PositiveInt | None = Field(
        default=None,
        description="Ends the experiment after this many intervals, if sooner than "
        "maxDuration. Looks cost nothing in validity: the confidence sequences hold at every "
        "look.",
    )

    @property
    def horizon(self) -> timedelta:
        """How long after its start the experiment ends."""
        if self.max_looks is None:
            return self.max_duration
        return min(self.max_duration, self.interval * self.max_looks)

    @property
    def control(self) -> str:
        return self.variants[0]

    @property
    def treatments(self) -> list[str]:
        return self.variants[1:]


class Experiment(Resource):
    KIND: ClassVar[str] = "Experiment"
    SCOPE: ClassVar[str] = "policy"
    kind: Literal["Experiment"] = Field(description="Always Experiment.")
    spec: ExperimentSpec = Field(description="The route, its variants, and the metrics compared.")
