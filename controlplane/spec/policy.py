"""SLOPolicy, CostPolicy and CanaryAnalysis: what the scheduler checks against Prometheus.

These live under policies/ and select the environments and routes they cover. Evaluation is
elsewhere (controlplane.policy); this module only models the fields.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import (
    Duration,
    Name,
    Percent,
    PositiveInt,
    Resource,
    SpecModel,
    ThresholdPercent,
    Usd,
)


class LogicalMetric(StrEnum):
    """Metrics by meaning; a dialect table maps them to each serving layer's names."""

    TTFT = "ttft"
    TPOT = "tpot"
    E2E_LATENCY = "e2e-latency"
    REQUESTS = "requests"
    ERRORS = "errors"
    INPUT_TOKENS = "input-tokens"
    OUTPUT_TOKENS = "output-tokens"
    COST = "cost"


LatencyMetric = Literal["ttft", "tpot", "e2e-latency"]
# An increase in percent: 0 or more, and past 100 when a canary may be twice as slow.
Increase = Annotated[float, Field(ge=0)]


class Selector(SpecModel):
    environments: list[Name] = Field(
        default_factory=list, description="Environments covered; empty means all."
    )
    routes: list[Name] = Field(
        default_factory=list, description="Routes covered in each environment; empty means all."
    )


class Strategy(StrEnum):
    REVERT = "revert"
    PATCH = "patch"
    NONE = "none"


class Remediation(SpecModel):
    strategy: Strategy = Field(
        default=Strategy.REVERT,
        description="revert: a rollback PR that git-reverts the commit to blame (a patch when "
        "the revert conflicts); patch: a minimal edit such as setting the canary percent to 0; "
        "none: report the failure, open no PR.",
    )
    cooldown: Duration = Field(
        default=timedelta(hours=1),
        description="Least time between two rollback PRs of this policy.",
    )


class _PolicySpec(SpecModel):
    selector: Selector = Field(default_factory=Selector, description="What the policy covers.")
    interval: Duration = Field(
        default=timedelta(minutes=1), description="How often the policy is evaluated."
    )
    fail_after: PositiveInt = Field(
        default=3,
        description="Consecutive failing evaluations before the policy counts as failed.",
    )
    remediation: Remediation = Field(
        default_factory=Remediation, description="What happens when the policy fails."
    )


# --- SLOs ---------------------------------------------------------------------------------------


class LatencySli(SpecModel):
    type: Literal["latency"] = Field(description="Good events are requests at or under a latency.")
    metric: LatencyMetric = Field(description="ttft, tpot or e2e-latency.")
    threshold: Duration = Field(
        description="Latency a good request stays within; must be a bucket bound of the histogram."
    )


class ErrorSli(SpecModel):
    type: Literal["errors"] = Field(
        description="Good events are requests that did not fail (logical errors / requests)."
    )


class QuerySli(SpecModel):
    type: Literal["query"] = Field(description="Bad and total events as raw PromQL.")
    bad_query: str = Field(min_length=1, description="PromQL counting bad events over [$window].")
    total_query: str = Field(min_length=1, description="PromQL counting all events over [$window].")


class FeedbackSli(SpecModel):
    type: Literal["feedback"] = Field(
        description="Good events are thumbs up given to answers through /v1/feedback; all "
        "events are all thumbs (up and down). Inconclusive where the dialect has no feedback."
    )


Sli = Annotated[LatencySli | ErrorSli | QuerySli | FeedbackSli, Field(discriminator="type")]


class Severity(StrEnum):
    PAGE = "page"
    TICKET = "ticket"


class BurnRateWindow(SpecModel):
    long: Duration = Field(description="Long window; the burn rate must exceed the factor here.")
    short: Duration = Field(description="Short window; and here too, so the breach is current.")
    factor: float = Field(gt=0, description="Burn-rate factor, e.g. 14.4.")
    severity: Severity = Field(default=Severity.PAGE, description="page acts; ticket reports.")


class BurnRate(SpecModel):
    preset: Literal["30d"] = Field(
        default="30d",
        description="30d: the SRE Workbook windows 1h/5m at 14.4x and 6h/30m at 6x (page), "
        "3d/6h at 1x (ticket). Used when no windows are given.",
    )
    windows: list[BurnRateWindow] = Field(
        default_factory=list, description="Explicit windows, used instead of the preset."
    )


class Objective(SpecModel):
    name: Name = Field(description="Objective name, unique in the policy.")
    sli: Sli = Field(description="What counts as a good event.")
    target: Annotated[float, Field(gt=0, lt=100)] = Field(
        description="Percent of events that must be good, e.g. 99.9."
    )
    window: Duration = Field(
        default=timedelta(days=30), description="SLO window the error budget spans."
    )
    burn_rate: BurnRate = Field(default_factory=BurnRate, description="Burn-rate alert windows.")
    min_events: PositiveInt = Field(
        default=100,
        description="Fewest events in a window for a verdict; fewer is inconclusive.",
    )


class ThresholdGuard(SpecModel):
    name: Name = Field(description="Guard name, unique in the policy.")
    metric: LatencyMetric = Field(description="ttft, tpot or e2e-latency.")
    quantile: Annotated[float, Field(gt=0, lt=1)] = Field(description="Quantile, e.g. 0.99.")
    threshold: Duration = Field(description="The quantile must stay under this latency.")
    for_: Duration = Field(
        alias="for",
        default=timedelta(minutes=10),
        description="How long the breach must last to count.",
    )
    min_samples: PositiveInt = Field(
        default=50, description="Fewest requests in the window for a verdict."
    )


class SLOPolicySpec(_PolicySpec):
    objectives: list[Objective] = Field(
        default_factory=list, description="SLOs judged by multi-window multi-burn-rate alerts."
    )
    guards: list[ThresholdGuard] = Field(
        default_factory=list, description="Simple quantile thresholds, e.g. TTFT p99 < 1s."
    )


class SLOPolicy(Resource):
    KIND: ClassVar[str] = "SLOPolicy"
    SCOPE: ClassVar[str] = "policy"
    kind: Literal["SLOPolicy"] = Field(description="Always SLOPolicy.")
    spec: SLOPolicySpec = Field(description="Objectives and guards, and their remediation.")


# --- Cost ---------------------------------------------------------------------------------------


class CostScope(SpecModel):
    type: Literal["team", "route", "model"] = Field(description="team, route or model.")
    name: str = Field(min_length=1, description="The team, or the Route or Model by name.")


class CostAction(StrEnum):
    NOTIFY = "notify"
    ROLLBACK = "rollback"


class CostThreshold(SpecModel):
    percent: ThresholdPercent = Field(description="Share of the limit at which the action fires.")
    action: CostAction = Field(description="notify: report; rollback: open a rollback PR.")


class CostBudget(SpecModel):
    name: Name = Field(description="Budget name, unique in the policy.")
    scope: CostScope = Field(description="Who or what the spend is counted for.")
    period: Literal["day", "month"] = Field(description="day or month (UTC).")
    limit_usd: Usd = Field(description="Spend allowed per period, in USD.")
    thresholds: list[CostThreshold] = Field(
        min_length=1, description="Actions at shares of the limit, in ascending order."
    )
    forecast: bool = Field(
        default=False,
        description="Also judge the linear run-rate forecast of spend at the end of the period.",
    )


class UnitCost(SpecModel):
    max_usd_per_1k_requests: Usd | None = Field(
        default=None, description="Most USD per 1,000 requests on a covered route."
    )
    canary_max_increase_percent: Increase | None = Field(
        default=None,
        description="Most a canary's USD per 1,000 requests may exceed its baseline's, in percent.",
    )


class CostPolicySpec(_PolicySpec):
    budgets: list[CostBudget] = Field(default_factory=list, description="USD budgets.")
    unit_cost: UnitCost = Field(default_factory=UnitCost, description="Cost per 1k requests.")


class CostPolicy(Resource):
    KIND: ClassVar[str] = "CostPolicy"
    SCOPE: ClassVar[str] = "policy"
    kind: Literal["CostPolicy"] = Field(description="Always CostPolicy.")
    spec: CostPolicySpec = Field(description="Budgets, unit cost, and remediation.")


# --- Canary -------------------------------------------------------------------------------------


class Correction(StrEnum):
    """How alpha is spent over repeated looks, so checking often does not inflate failures."""

    OBRIEN_FLEMING = "obrien-fleming"
    POCOCK = "pocock"
    BONFERRONI = "bonferroni"


class LatencyCheck(SpecModel):
    metric: LatencyMetric = Field(description="ttft, tpot or e2e-latency.")
    allowed_increase_percent: Increase = Field(
        default=10,
        description="Slowdown of the canary against the baseline that is tolerated, in percent.",
    )
    critical_increase_percent: Increase = Field(
        default=25,
        description="Slowdown that, once shown, fails the canary at once (critical).",
    )


class ErrorCheck(SpecModel):
    allowed_increase_points: Percent = Field(
        default=0.5, description="Error-ratio increase tolerated, in percentage points."
    )
    critical_increase_points: Percent = Field(
        default=2,
        description="Error-ratio increase that, once shown, fails the canary at once (critical).",
    )


class FeedbackCheck(SpecModel):
    allowed_increase_points: Percent = Field(
        default=2, description="Thumbs-down ratio increase tolerated, in percentage points."
    )
    critical_increase_points: Percent = Field(
        default=10,
        description="Thumbs-down ratio increase that, once shown, fails the canary at once.",
    )


class CanaryRemediation(Remediation):
    immediate: bool = Field(
        default=False,
        description="On a critical failure, also set the live canary percent to 0 at once, "
        "while the rollback pull request waits for review: the reconciler holds it there "
        "(reported as held, not as drift) until that pull request is merged or closed.",
    )


class CanaryAnalysisSpec(_PolicySpec):
    remediation: CanaryRemediation = Field(
        default_factory=CanaryRemediation,
        description="What happens when the canary fails: the rollback pull request, and whether "
        "a critical failure takes the canary's traffic away at once.",
    )
    min_samples_per_arm: PositiveInt = Field(
        default=200,
        description="Fewest requests in each arm, counted since the canary went live, before "
        "any verdict.",
    )
    alpha: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.01,
        description="The policy's false-failure rate over the whole rollout: split evenly over "
        "its checks, each share spent over the looks by the correction.",
    )
    max_looks: PositiveInt = Field(
        default=60,
        description="Looks (intervals since the canary went live) the alpha is spent over; the "
        "analysis ends after them.",
    )
    correction: Correction = Field(
        default=Correction.POCOCK,
        description="Alpha spending over looks: pocock (even), obrien-fleming (strict early) or "
        "bonferroni (linear).",
    )
    latency: list[LatencyCheck] = Field(
        default_factory=list,
        description="Latency checks: a canary request against the baseline's of the same minute.",
    )
    errors: ErrorCheck | None = Field(
        default=None, description="Error-ratio check: an exact test, minute by minute."
    )
    feedback: FeedbackCheck | None = Field(
        default=None,
        description="User feedback check: the canary's thumbs-down share of its ratings "
        "(POST /v1/feedback on the gateway) against the baseline's, the same exact test as "
        "errors. Needs a dialect with feedback (the gateway's).",
    )


class CanaryAnalysis(Resource):
    KIND: ClassVar[str] = "CanaryAnalysis"
    SCOPE: ClassVar[str] = "policy"
    kind: Literal["CanaryAnalysis"] = Field(description="Always CanaryAnalysis.")
    spec: CanaryAnalysisSpec = Field(description="Statistical checks of canary against baseline.")


Policy = SLOPolicy | CostPolicy | CanaryAnalysis
