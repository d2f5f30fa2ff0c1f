"""A/B experiments: each treatment variant of a route against the control, on the metrics the
Experiment names, with confidence sequences that stay valid however often they are looked at.

Evidence. Like canary analysis (policy/canary.py), the per-minute increments of the serving
layer's counters and histograms since the experiment went live, per variant, read through
`MetricSource.minutes` (exact differences of the counters, whole settled minutes), then summed
per arm. Variants split traffic by a sticky hash at fixed weights, and a change of the route's
variants, weights, stickiness or models restarts the evidence (`experiment_identity`), so every
minute holds the same random split and the arms can be pooled over time.

Per arm and metric, a mean and the variance of that mean:
- error-ratio (errors / requests), thumbs-up (up / up + down): proportions; the variance is
  p(1-p)/n at p = (x + 1)/(n + 2), so an arm without a single error is not taken as certain.
- ttft, e2e-latency, judge-score: the mean is the histogram's `_sum` over its count (exact); its
  variance is read off the buckets, each request spread evenly within its bucket as PromQL's
  histogram_quantile assumes (`stats.bucket_intervals`: bucket midpoints plus width²/12, the
  open bucket up to twice the last bound). The mean, not a quantile: a difference of means has a
  plain standard error and answers "how much slower on average"; the canary's Mann-Whitney AUC
  answers another question (is a request likely slower), with no effect size in seconds.
- cost-per-1k: USD over requests, a ratio of sums; its variance by the delta method with
  minutes as clusters (the counters hold no per-request cost).

Treatment against control: a difference in points (hundredths of the 0..1 scale) for ratios and
scores, and a relative change in percent for latency and cost (on the log of the ratio of the
means, delta method), with a **confidence sequence**: the asymptotic confidence sequence of
Waudby-Smith, Arnold, Wu, Ramdas and Howard ("Time-uniform central limit theory and asymptotic
confidence sequences", Annals of Statistics 2024), whose boundary is Robbins' normal mixture
(Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Annals of Statistics 2021):

    estimate ± sqrt(v) * sqrt((1 + 1/(t ρ²)) * (2 log(1/α) + log(1 + t ρ²)))

with v the variance of the estimate (the sum of the arms'), t the samples of both arms, and ρ
fixed in advance to be tightest at t = 2 × minSamplesPerGroup. The intervals hold at every t at
once with probability 1 - α (asymptotically), so the experiment may be looked at at any time,
any number of times, and stopped as soon as something is shown. Why not the canary's alpha
spending: spending needs the looks' schedule and a maximum fixed in advance and followed, while
an experiment is read by people whenever they like (CLI, API) as well as on a schedule; and a
confidence sequence gives an effect size with its interval, not only a p-value. The price is a
wider interval than a single fixed-size test (1.46 times at the tuned size and alpha 0.025),
measured in benchmarks/experiment_bench.py.

Alpha: the experiment's rate of any false verdict. Half of it goes to the primary metric and
half to the guardrails (all of it to the primary when there are none), each split evenly over
the treatments (and the guardrails): Bonferroni, so the false verdicts of all comparisons add
up to at most alpha.

Verdicts, per treatment: LOSER when its primary metric is shown worse, or a guardrail is shown
worse than its tolerance; WINNER when its primary metric is shown better and every guardrail
has enough samples and is not shown worse than its tolerance; otherwise CONTINUE, or
NO_DIFFERENCE once the experiment has ended. Nothing is judged on a metric before it has
`minSamplesPerGroup` samples in each arm. The experiment's verdict: WINNER when a treatment wins
(the best of the winners by its primary estimate), LOSER when every treatment loses (the control
stays), NO_DIFFERENCE when it ended without, CONTINUE otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

import numpy as np

from controlplane.errors import MetricsUnavailable
from controlplane.policy.canary import SETTLE, increments
from controlplane.policy.dialects import Dialect
from controlplane.policy.source import MetricSource, MinuteValues
from controlplane.policy.stats import Counts, bucket_intervals
from controlplane.spec import DesiredState
from controlplane.spec.base import FrozenValue, format_duration
from controlplane.spec.experiment import Experiment, ExperimentMetric

# Per-minute answers are asked for a day at a time: Prometheus answers at most 11,000 points
# per series, and a two-week experiment has 20,160 minutes.
MINUTES_PER_READ = 1440
# Differences smaller than this (relative, or in 0..1 units) are never "shown": counters are
# floats, and two arms with exactly the same values must not differ by round-off.
VARIANCE_FLOOR = 1e-18


# --- observations: what an arm's counters say about one metric ----------------------------------


@dataclass(frozen=True)
class Proportion:
    """Hits among trials, per minute: errors among requests, thumbs up among thumbs."""

    hits: Counts
    trials: Counts


@dataclass(frozen=True)
class PerRequest:
    """A total over requests, per minute: USD spent."""

    total: Counts
    requests: Counts


@dataclass(frozen=True)
class Distribution:
    """A histogram: bucket counts per minute (minutes x buckets, not cumulative, ascending upper
    bounds, the last may be +Inf), and the histogram's sum per minute where it was read."""

    bounds: tuple[float, ...]
    counts: Counts
    total: Counts | None = None


Observation = Proportion | PerRequest | Distribution


@dataclass(frozen=True)
class ArmData:
    """One variant's per-minute requests and its observation of each metric."""

    requests: Counts
    observations: Mapping[ExperimentMetric, Observation] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentData:
    """The arms by variant name, and the PromQL each series was read with."""

    arms: Mapping[str, ArmData]
    queries: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    """An arm's mean of a metric (in 0..1 units for ratios, seconds, USD per request), the
    variance of that mean, and the samples it rests on."""

    samples: float
    mean: float
    variance: float


def estimate(observation: Observation) -> Estimate | None:
    """The arm's mean and its variance; None without samples."""
    match observation:
        case Proportion(hits=hits, trials=trials):
            n = float(trials.sum())
            if n <= 0:
                return None
            x = min(max(float(hits.sum()), 0.0), n)
            smoothed = (x + 1) / (n + 2)
            return Estimate(n, x / n, smoothed * (1 - smoothed) / n)
        case PerRequest(total=total, requests=requests):
            n = float(requests.sum())
            if n <= 0:
                return None
            ratio = float(total.sum()) / n
            active = requests > 0
            clusters = int(active.sum())
            if clusters < 2:
                return Estimate(n, ratio, math.inf)
            residuals = total[active] - ratio * requests[active]
            variance = clusters / (clusters - 1) * float((residuals**2).sum()) / n**2
            return Estimate(n, ratio, variance)
        case Distribution(bounds=bounds, counts=counts, total=total):
            per_bucket = counts.sum(axis=0) if counts.ndim == 2 else counts
            n = float(per_bucket.sum())
            if n <= 0:
                return None
            lower, upper = bucket_intervals(bounds)
            middle, width = (lower + upper) / 2, upper - lower
            bucket_mean = float((per_bucket * middle).sum()) / n
            second = float((per_bucket * (middle**2 + width**2 / 12)).sum()) / n
            spread = max(second - bucket_mean**2, 0.0)
            summed = float(total.sum()) if total is not None else 0.0
            mean = summed / n if summed > 0 else bucket_mean
            return Estimate(n, mean, spread / n)
    raise AssertionError(observation)


# --- the confidence sequence ---------------------------------------------------------------------


def confidence_radius(variance: float, samples: float, alpha: float, planned: float) -> float:
    """Half-width of the two-sided asymptotic confidence sequence (normal mixture boundary) of
    an estimate with this variance after `samples` samples, tightest at `planned` samples:
    it covers the true value at every number of samples at once with probability 1 - alpha."""
    if not math.isfinite(variance) or samples <= 0:
        return math.inf
    log_alpha = -2 * math.log(alpha)
    rho_squared = (log_alpha + math.log(log_alpha + 1)) / planned
    scaled = samples * rho_squared
    return math.sqrt(variance * (1 + 1 / scaled) * (log_alpha + math.log1p(scaled)))


def fixed_radius(variance: float, alpha: float) -> float:
    """Half-width of the ordinary two-sided interval at one fixed sample size (valid at one
    look only): what the benchmark compares the confidence sequence with."""
    from scipy import stats

    return float(stats.norm.ppf(1 - alpha / 2)) * math.sqrt(variance)


class Finding(StrEnum):
    BETTER = "better"  # primary: the interval is on the better side of 0
    WORSE = "worse"  # primary: on the worse side of 0; guardrail: past its tolerance
    WITHIN = "within"  # guardrail: shown no worse than its tolerance
    NOT_SHOWN = "not-shown"
    TOO_FEW = "too-few"  # fewer samples than minSamplesPerGroup in an arm


class Comparison(FrozenValue):
    """One metric of a treatment against the control."""

    metric: ExperimentMetric
    role: Literal["primary", "guardrail"]
    treatment: str
    control_samples: float
    treatment_samples: float
    control_mean: float | None  # in 0..1 units for ratios, seconds, USD per 1,000 requests
    treatment_mean: float | None
    # Treatment against control: percent for latency and cost, points for ratios and scores.
    effect: float | None
    lower: float | None
    upper: float | None
    tolerance: float | None
    alpha: float  # the confidence sequence covers the truth at all times w.p. 1 - alpha
    finding: Finding
    summary: str


def _display_mean(metric: ExperimentMetric, mean: float) -> float:
    return mean * 1000 if metric is ExperimentMetric.COST_PER_1K else mean


def compare(
    metric: ExperimentMetric,
    treatment: str,
    control: Estimate | None,
    arm: Estimate | None,
    alpha: float,
    planned: float,
    minimum: float,
    tolerance: float | None = None,
) -> Comparison:
    """The treatment arm against the control on one metric; a guardrail when `tolerance` is
    given, the primary metric otherwise."""
    role: Literal["primary", "guardrail"] = "primary" if tolerance is None else "guardrail"
    effect = lower = upper = None
    if control is not None and arm is not None:
        found = _effect(metric, control, arm, alpha, planned)
        if found is not None:  # an unbounded side of the interval is None
            effect, lower, upper = (x if math.isfinite(x) else None for x in found)
    n_c = control.samples if control else 0.0
    n_t = arm.samples if arm else 0.0
    finding = Finding.NOT_SHOWN
    if min(n_c, n_t) < minimum:
        finding = Finding.TOO_FEW
    elif lower is not None and upper is not None:
        # Gains: positive is better, whichever way the metric goes.
        low, high = (lower, upper) if metric.higher_is_better else (-upper, -lower)
        if tolerance is None:
            finding = (
                Finding.BETTER if low > 0 else Finding.WORSE if high < 0 else Finding.NOT_SHOWN
            )
        else:
            finding = (
                Finding.WORSE
                if high < -tolerance
                else Finding.WITHIN
                if low > -tolerance
                else Finding.NOT_SHOWN
            )
    return Comparison(
        metric=metric,
        role=role,
        treatment=treatment,
        control_samples=n_c,
        treatment_samples=n_t,
        control_mean=_display_mean(metric, control.mean) if control else None,
        treatment_mean=_display_mean(metric, arm.mean) if arm else None,
        effect=effect,
        lower=lower,
        upper=upper,
        tolerance=tolerance,
        alpha=alpha,
        finding=finding,
        summary=_summary(
            metric, effect, lower, upper, alpha, tolerance, finding, n_c, n_t, minimum
        ),
    )


def _effect(
    metric: ExperimentMetric, control: Estimate, arm: Estimate, alpha: float, planned: float
) -> tuple[float, float, float] | None:
    """(effect, lower, upper) in percent or points, or None when it cannot be computed."""
    samples = control.samples + arm.samples
    if metric.relative:
        if control.mean <= 0 or arm.mean <= 0:
            return None
        log_ratio = math.log(arm.mean / control.mean)
        variance = arm.variance / arm.mean**2 + control.variance / control.mean**2
        radius = confidence_radius(max(variance, VARIANCE_FLOOR), samples, alpha, planned)
        if not math.isfinite(radius):
            return math.expm1(log_ratio) * 100, -math.inf, math.inf
        return (
            math.expm1(log_ratio) * 100,
            math.expm1(log_ratio - radius) * 100,
            math.expm1(min(log_ratio + radius, 700.0)) * 100,
        )
    difference = arm.mean - control.mean
    variance = max(arm.variance + control.variance, VARIANCE_FLOOR)
    radius = confidence_radius(variance, samples, alpha, planned)
    return difference * 100, (difference - radius) * 100, (difference + radius) * 100


def _signed(value: float, unit: str) -> str:
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:+.1f}{unit}" if unit == "%" else f"{value:+.2f}{unit}"


def _summary(
    metric: ExperimentMetric,
    effect: float | None,
    lower: float | None,
    upper: float | None,
    alpha: float,
    tolerance: float | None,
    finding: Finding,
    n_c: float,
    n_t: float,
    minimum: float,
) -> str:
    unit = metric.unit
    if effect is None:
        measured = f"{metric.value}: no estimate"
    elif lower is None or upper is None:
        measured = f"{metric.value} {_signed(effect, unit)} (no interval yet)"
    else:
        bound = "%" if metric.relative else ""
        measured = (
            f"{metric.value} {_signed(effect, unit)} ({confidence_level(alpha)} CS "
            f"{_signed(lower, bound)} to {_signed(upper, bound)})"
        )
    worse = "+" if not metric.higher_is_better else "-"
    allowed = f"{worse}{tolerance:g}{unit}" if tolerance is not None else ""
    match finding:
        case Finding.TOO_FEW:
            return f"{measured}: {n_c:.0f} and {n_t:.0f} samples, fewer than {minimum:.0f} each"
        case Finding.BETTER:
            return f"{measured}: shown better"
        case Finding.WORSE:
            return f"{measured}: shown worse" + (
                f" than {allowed}" if tolerance is not None else ""
            )
        case Finding.WITHIN:
            return f"{measured}: shown within {allowed}"
        case Finding.NOT_SHOWN:
            if tolerance is None:
                return f"{measured}: not shown either way"
            return f"{measured}: neither shown within {allowed} nor past it"
    raise AssertionError(finding)


def confidence_level(alpha: float) -> str:
    """'97.5%' for alpha 0.025."""
    return f"{(1 - alpha) * 100:.4g}%"


# --- verdicts ------------------------------------------------------------------------------------


class Verdict(StrEnum):
    WINNER = "winner"
    LOSER = "loser"
    NO_DIFFERENCE = "no-difference"
    CONTINUE = "continue"


class TreatmentResult(FrozenValue):
    variant: str
    verdict: Verdict
    reasons: tuple[str, ...]
    comparisons: tuple[Comparison, ...]  # the primary metric first

    @property
    def primary(self) -> Comparison:
        return self.comparisons[0]


def decide(primary: Comparison, guardrails: Sequence[Comparison], ended: bool) -> TreatmentResult:
    """A treatment's verdict from its comparisons (see the module docstring)."""
    comparisons = (primary, *guardrails)
    worse = [g for g in guardrails if g.finding is Finding.WORSE]
    if primary.finding is Finding.WORSE or worse:
        losing = ([primary] if primary.finding is Finding.WORSE else []) + worse
        return TreatmentResult(
            variant=primary.treatment,
            verdict=Verdict.LOSER,
            reasons=tuple(c.summary for c in losing),
            comparisons=comparisons,
        )
    waiting = Verdict.NO_DIFFERENCE if ended else Verdict.CONTINUE
    if primary.finding is Finding.BETTER:
        unmeasured = [g for g in guardrails if g.finding is Finding.TOO_FEW]
        if not unmeasured:
            return TreatmentResult(
                variant=primary.treatment,
                verdict=Verdict.WINNER,
                reasons=tuple(c.summary for c in comparisons),
                comparisons=comparisons,
            )
        return TreatmentResult(
            variant=primary.treatment,
            verdict=waiting,
            reasons=(primary.summary, *(f"guardrail {g.summary}" for g in unmeasured)),
            comparisons=comparisons,
        )
    return TreatmentResult(
        variant=primary.treatment,
        verdict=waiting,
        reasons=(primary.summary,),
        comparisons=comparisons,
    )


def _gain(result: TreatmentResult) -> float:
    effect = result.primary.effect or 0.0
    return effect if result.primary.metric.higher_is_better else -effect


# --- looks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Which minutes a look reads, and where it stands in the experiment."""

    started: datetime
    known: bool  # False: no start was given, the horizon before the look is read
    first: datetime  # end of the first whole minute after the start
    last: datetime  # end of the last whole minute that is settled and within the horizon
    look: int  # intervals since the start
    max_looks: int
    ended: bool

    @property
    def minutes(self) -> int:
        return max(0, round((self.last - self.first).total_seconds() / 60) + 1)


def plan_window(experiment: Experiment, at: datetime, started: datetime | None) -> Window:
    spec = experiment.spec
    horizon = spec.horizon
    known = started is not None
    start = started if started is not None else at - horizon
    end = start + horizon
    first = _minute_at_or_after(start) + timedelta(minutes=1)
    last = min(_minute_at_or_before(at - SETTLE), _minute_at_or_before(end))
    looks = max(1, math.ceil(horizon / spec.interval))
    look = min(looks, max(0, math.floor((min(at, end) - start) / spec.interval)))
    return Window(start, known, first, last, look, looks, known and at >= end)


def _minute_at_or_before(at: datetime) -> datetime:
    return datetime.fromtimestamp(math.floor(at.timestamp() / 60) * 60, at.tzinfo)


def _minute_at_or_after(at: datetime) -> datetime:
    return datetime.fromtimestamp(math.ceil(at.timestamp() / 60) * 60, at.tzinfo)


# --- reading the evidence ------------------------------------------------------------------------


def _read(
    source: MetricSource, query: str, window: Window, labels: tuple[str, ...]
) -> MinuteValues:
    """`source.minutes` over the window, a day at a time, stitched together."""
    total = window.minutes
    found: MinuteValues = {}
    for offset in range(0, total, MINUTES_PER_READ):
        count = min(MINUTES_PER_READ, total - offset)
        first = window.first + timedelta(minutes=offset)
        last = first + timedelta(minutes=count - 1)
        for key, values in source.minutes(query, first, last, labels).items():
            series = found.get(key)
            if series is None:
                series = found[key] = np.zeros(total)
            series[offset : offset + count] += values
    return found


def _by_variant(found: MinuteValues, variants: Sequence[str], minutes: int) -> dict[str, Counts]:
    arms = {v: np.zeros(minutes) for v in variants}
    for (variant, *_), values in found.items():
        if variant in arms:
            arms[variant] += values
    return arms


def _histograms(
    found: MinuteValues, variants: Sequence[str], minutes: int
) -> tuple[tuple[float, ...], dict[str, Counts]]:
    """(bucket bounds, per variant minutes x buckets, not cumulative)."""
    bounds = tuple(sorted({float(le) for _, le in found}))
    index = {b: i for i, b in enumerate(bounds)}
    arms = {v: np.zeros((minutes, len(bounds))) for v in variants}
    for (variant, le), values in found.items():
        if variant in arms:
            arms[variant][:, index[float(le)]] += values
    return bounds, {v: np.clip(np.diff(a, axis=1, prepend=0.0), 0.0, None) for v, a in arms.items()}


def read_experiment(
    experiment: Experiment, dialect: Dialect, source: MetricSource, window: Window
) -> ExperimentData:
    """Per-minute evidence of every variant, for the metrics the experiment names.

    Raises MetricsUnavailable when Prometheus cannot answer."""
    spec = experiment.spec
    variants, v, minutes = spec.variants, dialect.variant_label, window.minutes
    # Variant names are DNS labels: nothing in them needs escaping in a regular expression.
    selector = f'{dialect.route_label}="{spec.route}",{v}=~"{"|".join(variants)}"'
    queries: dict[str, str] = {}

    def counter(name: str, metric: str, matchers: str = "") -> dict[str, Counts]:
        query = queries[name] = increments(metric, selector + matchers, v)
        return _by_variant(_read(source, query, window, (v,)), variants, minutes)

    requests = counter("requests", dialect.requests)
    observations: dict[str, dict[ExperimentMetric, Observation]] = {x: {} for x in variants}
    for metric in dict.fromkeys([spec.primary, *(g.metric for g in spec.guardrails)]):
        match metric:
            case ExperimentMetric.ERROR_RATIO:
                errors = counter("errors", dialect.requests, f",{dialect.errors}")
                for x in variants:
                    observations[x][metric] = Proportion(errors[x], requests[x])
            case ExperimentMetric.COST_PER_1K:
                cost = counter("cost", dialect.cost)
                for x in variants:
                    observations[x][metric] = PerRequest(cost[x], requests[x])
            case ExperimentMetric.THUMBS_UP:
                query = queries["feedback"] = increments(dialect.feedback, selector, f"{v}, rating")
                found = _read(source, query, window, (v, "rating"))
                up = _by_variant(
                    {k: a for k, a in found.items() if k[1] == "up"}, variants, minutes
                )
                down = _by_variant(
                    {k: a for k, a in found.items() if k[1] == "down"}, variants, minutes
                )
                for x in variants:
                    observations[x][metric] = Proportion(up[x], up[x] + down[x])
            case (
                ExperimentMetric.TTFT | ExperimentMetric.E2E_LATENCY | ExperimentMetric.JUDGE_SCORE
            ):
                base = (
                    dialect.judge_score
                    if metric is ExperimentMetric.JUDGE_SCORE
                    else dialect.histogram(metric.value)
                )
                query = queries[f"{metric.value} buckets"] = increments(
                    f"{base}_bucket", selector, f"{v}, le"
                )
                bounds, buckets = _histograms(
                    _read(source, query, window, (v, "le")), variants, minutes
                )
                sums = counter(f"{metric.value} sum", f"{base}_sum")
                for x in variants:
                    observations[x][metric] = Distribution(bounds, buckets[x], sums[x])
    return ExperimentData(
        arms={x: ArmData(requests[x], observations[x]) for x in variants}, queries=queries
    )


# --- the report ----------------------------------------------------------------------------------


class ArmMetric(FrozenValue):
    metric: ExperimentMetric
    samples: float
    mean: float | None  # 0..1 for ratios and scores, seconds, USD per 1,000 requests
    standard_error: float | None


class ArmSummary(FrozenValue):
    variant: str
    role: Literal["control", "treatment"]
    requests: float
    metrics: tuple[ArmMetric, ...]


class Query(FrozenValue):
    name: str
    query: str


class ExperimentReport(FrozenValue):
    experiment: str
    environment: str
    route: str
    at: datetime
    started: datetime | None  # None: unknown, the horizon before `at` was read
    minutes: int
    look: int
    max_looks: int
    ended: bool
    alpha: float
    min_samples_per_group: int
    primary: ExperimentMetric
    verdict: Verdict
    winner: str | None
    reasons: tuple[str, ...]
    arms: tuple[ArmSummary, ...]
    treatments: tuple[TreatmentResult, ...]
    queries: tuple[Query, ...]


def comparison_alphas(experiment: Experiment) -> tuple[float, float]:
    """(alpha of each primary comparison, alpha of each guardrail comparison)."""
    spec = experiment.spec
    treatments = len(spec.treatments)
    guardrails = len(spec.guardrails)
    if not guardrails:
        return spec.alpha / treatments, 0.0
    return spec.alpha / 2 / treatments, spec.alpha / 2 / treatments / guardrails


def analyse_experiment(
    experiment: Experiment,
    data: ExperimentData,
    window: Window,
    environment: str,
    at: datetime,
) -> ExperimentReport:
    """The verdict on the evidence: pure, no I/O."""
    spec = experiment.spec
    minimum = float(spec.min_samples_per_group)
    planned = 2 * minimum
    primary_alpha, guardrail_alpha = comparison_alphas(experiment)
    metrics = list(dict.fromkeys([spec.primary, *(g.metric for g in spec.guardrails)]))
    estimates: dict[str, dict[ExperimentMetric, Estimate | None]] = {
        variant: {
            m: estimate(arm.observations[m]) if m in arm.observations else None for m in metrics
        }
        for variant, arm in data.arms.items()
    }
    control = estimates.get(spec.control, {})
    treatments = []
    for variant in spec.treatments:
        mine = estimates.get(variant, {})
        primary = compare(
            spec.primary,
            variant,
            control.get(spec.primary),
            mine.get(spec.primary),
            primary_alpha,
            planned,
            minimum,
        )
        guardrails = [
            compare(
                g.metric,
                variant,
                control.get(g.metric),
                mine.get(g.metric),
                guardrail_alpha,
                planned,
                minimum,
                g.tolerance,
            )
            for g in spec.guardrails
        ]
        result = decide(primary, guardrails, window.ended)
        if result.primary.finding is Finding.TOO_FEW and not window.ended:
            wait = _wait(spec.primary, data, spec.control, variant, minimum, window, at)
            if wait:
                result = result.model_copy(update={"reasons": (*result.reasons, wait)})
        treatments.append(result)
    winners = [t for t in treatments if t.verdict is Verdict.WINNER]
    if winners:
        best = max(winners, key=_gain)
        verdict, winner = Verdict.WINNER, best.variant
        reasons = (f"{best.variant} wins", *best.reasons)
    elif treatments and all(t.verdict is Verdict.LOSER for t in treatments):
        verdict, winner = Verdict.LOSER, None
        reasons = tuple(f"{t.variant} loses: {r}" for t in treatments for r in t.reasons)
    else:
        verdict = Verdict.NO_DIFFERENCE if window.ended else Verdict.CONTINUE
        winner = None
        reasons = tuple(f"{t.variant}: {r}" for t in treatments for r in t.reasons)
    if window.ended:
        reasons = (f"the experiment ended after {format_duration(spec.horizon)}", *reasons)
    arms = tuple(
        ArmSummary(
            variant=variant,
            role="control" if variant == spec.control else "treatment",
            requests=float(data.arms[variant].requests.sum()) if variant in data.arms else 0.0,
            metrics=tuple(_arm_metric(m, estimates.get(variant, {}).get(m)) for m in metrics),
        )
        for variant in spec.variants
    )
    return ExperimentReport(
        experiment=experiment.name,
        environment=environment,
        route=spec.route,
        at=at,
        started=window.started if window.known else None,
        minutes=window.minutes,
        look=window.look,
        max_looks=window.max_looks,
        ended=window.ended,
        alpha=spec.alpha,
        min_samples_per_group=spec.min_samples_per_group,
        primary=spec.primary,
        verdict=verdict,
        winner=winner,
        reasons=reasons,
        arms=arms,
        treatments=tuple(treatments),
        queries=tuple(Query(name=k, query=q) for k, q in data.queries.items()),
    )


def _arm_metric(metric: ExperimentMetric, found: Estimate | None) -> ArmMetric:
    if found is None:
        return ArmMetric(metric=metric, samples=0.0, mean=None, standard_error=None)
    error = math.sqrt(found.variance) if math.isfinite(found.variance) else None
    scale = 1000 if metric is ExperimentMetric.COST_PER_1K else 1
    return ArmMetric(
        metric=metric,
        samples=found.samples,
        mean=found.mean * scale,
        standard_error=error * scale if error is not None else None,
    )


def _samples(metric: ExperimentMetric, arm: ArmData | None) -> Counts | None:
    """Per-minute samples of a metric in an arm."""
    if arm is None:
        return None
    match arm.observations.get(metric):
        case Proportion(trials=trials):
            return trials
        case PerRequest(requests=requests):
            return requests
        case Distribution(counts=counts):
            return counts.sum(axis=1) if counts.ndim == 2 else None
    return None


def _wait(
    metric: ExperimentMetric,
    data: ExperimentData,
    control: str,
    treatment: str,
    minimum: float,
    window: Window,
    at: datetime,
) -> str:
    """When both arms will have enough samples at the rate so far, or '' when unknown."""
    waits = []
    for variant in (control, treatment):
        samples = _samples(metric, data.arms.get(variant))
        n = float(samples.sum()) if samples is not None else 0.0
        if n >= minimum:
            continue
        if n <= 0 or window.minutes == 0:
            return f"no {metric.value} samples in {variant} yet"
        waits.append((minimum - n) / (n / window.minutes))
    if not waits:
        return ""
    wait = timedelta(minutes=math.ceil(max(waits)))
    return f"enough {metric.value} samples in about {format_duration(wait)} at the rate so far " + (
        f"({at + wait:%Y-%m-%d %H:%M} UTC)"
    )


def evaluate_experiment(
    experiment: Experiment,
    dialect: Dialect,
    source: MetricSource,
    environment: str,
    at: datetime,
    started: datetime | None = None,
) -> ExperimentReport:
    """The experiment at `at`, on the minutes since `started` (when it went live; None: the
    experiment's horizon before `at`). Metrics that cannot be read leave it at CONTINUE."""
    window = plan_window(experiment, at, started)
    empty = ExperimentData(arms={})
    if not dialect.variant_label:
        reason = f"the {dialect.name} dialect has no variant label"
        return _unknown(analyse_experiment(experiment, empty, window, environment, at), reason)
    if window.minutes == 0:
        reason = "the experiment's first whole minute is not over yet"
        return _unknown(analyse_experiment(experiment, empty, window, environment, at), reason)
    try:
        data = read_experiment(experiment, dialect, source, window)
    except MetricsUnavailable as exc:
        report = analyse_experiment(experiment, empty, window, environment, at)
        return _unknown(report, f"metrics unavailable: {exc}")
    return analyse_experiment(experiment, data, window, environment, at)


def _unknown(report: ExperimentReport, reason: str) -> ExperimentReport:
    return report.model_copy(
        update={"verdict": Verdict.CONTINUE, "winner": None, "reasons": (reason,)}
    )


def experiment_identity(state: DesiredState, experiment: Experiment) -> str:
    """What the experiment's evidence is about: its route's variants (names, weights, models),
    stickiness, and the full spec of each of those Models. Evidence restarts when this changes,
    and only then; the analysis settings (alpha, guardrails) may change without restarting it."""
    spec = experiment.spec
    route = next((r for r in state.routes if r.name == spec.route), None)
    variants = route.spec.variants if route else []
    known = state.models_by_name
    models = {
        v.model: known[v.model].spec.model_dump(mode="json") for v in variants if v.model in known
    }
    document = {
        "experiment": experiment.name,
        "route": spec.route,
        "compared": spec.variants,
        "variants": [v.model_dump(mode="json") for v in variants],
        "stickiness": (
            route.spec.stickiness.model_dump(mode="json")
            if route is not None and route.spec.stickiness
            else None
        ),
        "models": models,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
