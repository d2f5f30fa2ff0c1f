"""Benchmark of judgement: how often an Experiment declares a winner or a loser where the variants
do not differ, however often it is looked at, and how soon it finds a real difference.

Many seeded experiments are simulated, two variants of one route each (three in one null
scenario), per minute: the traffic (Poisson, with a day-long swell of ±50%, split 50/50 by the
sticky hash), each request's TTFT (lognormal, median 350 ms, sigma 0.5, binned into the gateway's
bucket bounds, with the histogram's sum), its errors (0.5%), its cost (lognormal tokens x a
price), thumbs up or down on 50% of requests (70% up) and a judge's score on 50% (a 10-point
rubric in tenths: a normal of mean 0.70 and sd 0.20, rounded and clipped to 0..1, binned into
the gateway's score buckets, with the sum). Each experiment is looked at every hour for 48 hours
through the real analysis (`controlplane.policy.experiment.analyse_experiment`, on the per-minute
counts since the start, exactly as read from Prometheus) and stops at its first WINNER or LOSER.
Prometheus is not in this loop (tests/integration/test_experiment_prometheus.py reads the same
shapes through a real one): 2,000 experiments x 48 looks would be hours of backfill.

(a) Null scenarios: the variants do not differ in anything. A false verdict is any WINNER or
LOSER. Beside it, "naive": the same looks, each testing the primary metric with an ordinary 95%
interval at one fixed sample size, stopped at the first one that excludes no difference.
(b) Real differences: thumbs up 70% -> 74%, TTFT +15%, judge score +0.05, and one where the
judge score is better but TTFT is 30% worse than a 10% guardrail allows. Detection is the right
verdict (WINNER when the treatment is better, LOSER when it is worse), reported by the number of
samples of the primary metric each arm had when it was declared.

Rates carry two-sided 95% Clopper-Pearson intervals.

Run: .venv/bin/python benchmarks/experiment_bench.py [--null 600] [--real 200] [--seed 2026]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.policy.dialects import GATEWAY
from controlplane.policy.experiment import (
    ArmData,
    Distribution,
    ExperimentData,
    Observation,
    PerRequest,
    Proportion,
    Verdict,
    Window,
    analyse_experiment,
    comparison_alphas,
    confidence_radius,
    estimate,
    fixed_radius,
)
from controlplane.spec.experiment import Experiment, ExperimentMetric

Array = npt.NDArray[np.float64]
T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
HOURS = 48
MINUTES = HOURS * 60
TTFT_BOUNDS = (*GATEWAY.buckets["ttft"], math.inf)
SCORE_BOUNDS = (*GATEWAY.buckets["score"], math.inf)
PER_ARM_PER_HOUR = 400  # requests: 19,200 per arm in 48 hours, 9,600 thumbs and 9,600 scores
FEEDBACK_SHARE = 0.5
JUDGED_SHARE = 0.5
SAMPLE_POINTS = (1_000, 2_000, 4_000, 8_000)


@dataclass(frozen=True)
class Arm:
    ttft: float = 1.0  # latency factor
    error_ratio: float = 0.005
    thumbs_up: float = 0.70
    judge: float = 0.70  # mean of the rubric's normal before rounding
    cost: float = 1.0  # price factor


@dataclass(frozen=True)
class Scenario:
    name: str
    primary: str
    guardrails: tuple[tuple[str, float], ...]
    treatments: tuple[Arm, ...] = (Arm(),)
    expected: Verdict | None = None  # None: the null, any verdict is false
    shared_slowdown: bool = False  # both arms x2 latency for 3 hours at a random time
    control: Arm = Arm()


def scenarios() -> list[Scenario]:
    guards = (("ttft", 10.0), ("error-ratio", 0.5), ("cost-per-1k", 20.0))
    return [
        Scenario("A/A: thumbs-up primary, 3 guardrails", "thumbs-up", guards),
        Scenario(
            "A/A: ttft primary, 2 guardrails, a shared 3-hour slowdown",
            "ttft",
            (("error-ratio", 0.5), ("judge-score", 2.0)),
            shared_slowdown=True,
        ),
        Scenario("A/A/A: judge-score primary, 2 treatments", "judge-score", (), (Arm(), Arm())),
        Scenario(
            "thumbs up 70% -> 74%",
            "thumbs-up",
            guards,
            (Arm(thumbs_up=0.74),),
            Verdict.WINNER,
        ),
        Scenario("TTFT +15%", "ttft", (("error-ratio", 0.5),), (Arm(ttft=1.15),), Verdict.LOSER),
        Scenario(
            "judge score +0.05",
            "judge-score",
            (("ttft", 10.0),),
            (Arm(judge=0.75),),
            Verdict.WINNER,
        ),
        Scenario(
            "judge score +0.05 but TTFT +30% (guardrail 10%)",
            "judge-score",
            (("ttft", 10.0),),
            (Arm(judge=0.75, ttft=1.3),),
            Verdict.LOSER,
        ),
    ]


def experiment(scenario: Scenario) -> Experiment:
    variants = ["control", *(f"treatment-{i + 1}" for i in range(len(scenario.treatments)))]
    return Experiment.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Experiment",
            "metadata": {"name": "bench"},
            "spec": {
                "route": "chat",
                "variants": variants,
                "primary": scenario.primary,
                "guardrails": [{"metric": m, "tolerance": t} for m, t in scenario.guardrails],
                "minSamplesPerGroup": 1000,
                "alpha": 0.05,
                "interval": "1h",
                "maxDuration": f"{HOURS}h",
            },
        }
    )


# --- simulation ----------------------------------------------------------------------------------


def _binned(
    minute: npt.NDArray[np.int64], values: Array, bounds: tuple[float, ...]
) -> tuple[Array, Array]:
    """(minutes x buckets counts, per-minute sums) of values observed in those minutes."""
    bucket = np.searchsorted(np.array(bounds), values, side="left")
    counts = np.bincount(minute * len(bounds) + bucket, minlength=MINUTES * len(bounds))
    sums = np.bincount(minute, weights=values, minlength=MINUTES).astype(float)
    return counts.reshape(MINUTES, len(bounds)).astype(float), sums


def simulate_arm(
    arm: Arm, requests: npt.NDArray[np.int64], slowdown: Array, rng: np.random.Generator
) -> ArmData:
    minute = np.repeat(np.arange(MINUTES), requests)
    n = int(requests.sum())
    ttft = 0.35 * arm.ttft * slowdown[minute] * np.exp(0.5 * rng.standard_normal(n))
    tokens = np.exp(6.0 + 0.8 * rng.standard_normal(n))  # ~400 tokens at the median
    cost = tokens * 2e-6 * arm.cost
    failed = rng.random(n) < arm.error_ratio
    given = rng.random(n) < FEEDBACK_SHARE
    up = given & (rng.random(n) < arm.thumbs_up)
    judged = rng.random(n) < JUDGED_SHARE
    scores = np.clip(np.round((arm.judge + 0.2 * rng.standard_normal(n)) * 10) / 10, 0.0, 1.0)

    def per_minute(values: Any) -> Array:
        return np.bincount(minute, weights=values, minlength=MINUTES).astype(float)

    ttft_counts, ttft_sums = _binned(minute, ttft, TTFT_BOUNDS)
    judge_counts, judge_sums = _binned(minute[judged], scores[judged], SCORE_BOUNDS)
    total = requests.astype(float)
    observations: dict[ExperimentMetric, Observation] = {
        ExperimentMetric.TTFT: Distribution(TTFT_BOUNDS, ttft_counts, ttft_sums),
        ExperimentMetric.ERROR_RATIO: Proportion(per_minute(failed), total),
        ExperimentMetric.COST_PER_1K: PerRequest(per_minute(cost), total),
        ExperimentMetric.THUMBS_UP: Proportion(per_minute(up), per_minute(given)),
        ExperimentMetric.JUDGE_SCORE: Distribution(SCORE_BOUNDS, judge_counts, judge_sums),
    }
    return ArmData(total, observations)


def simulate(scenario: Scenario, rng: np.random.Generator) -> dict[str, ArmData]:
    arms = [scenario.control, *scenario.treatments]
    hours = np.arange(MINUTES) / 60
    swell = 1 + 0.5 * np.sin(2 * np.pi * (hours / 24 + rng.random()))
    total = rng.poisson(PER_ARM_PER_HOUR / 60 * len(arms) * swell)
    split = rng.multinomial(total, np.full(len(arms), 1 / len(arms)))  # minutes x arms
    slowdown = np.ones(MINUTES)
    if scenario.shared_slowdown:
        begin = int(rng.integers(0, MINUTES - 180))
        slowdown[begin : begin + 180] = 2.0
    names = ["control", *(f"treatment-{i + 1}" for i in range(len(scenario.treatments)))]
    return {
        name: simulate_arm(arm, split[:, i], slowdown, rng)
        for i, (name, arm) in enumerate(zip(names, arms, strict=True))
    }


def upto(data: dict[str, ArmData], minutes: int) -> ExperimentData:
    """The evidence of the first `minutes` minutes, as a look at that time reads it."""

    def cut(o: Observation) -> Observation:
        match o:
            case Proportion(hits=h, trials=t):
                return Proportion(h[:minutes], t[:minutes])
            case PerRequest(total=c, requests=r):
                return PerRequest(c[:minutes], r[:minutes])
            case Distribution(bounds=b, counts=k, total=s):
                return Distribution(b, k[:minutes], None if s is None else s[:minutes])
        raise AssertionError(o)

    return ExperimentData(
        arms={
            name: ArmData(arm.requests[:minutes], {m: cut(o) for m, o in arm.observations.items()})
            for name, arm in data.items()
        }
    )


# --- one experiment, looked at every hour --------------------------------------------------------


@dataclass
class Outcome:
    verdict: Verdict | None = None  # the first WINNER or LOSER, or None
    look: int | None = None  # when it was declared
    naive_look: int | None = None  # the first look a fixed 95% interval excluded no difference
    samples: list[float] = field(default_factory=list)  # per look: the fewest primary samples

    def declared_by(self, samples: float) -> bool:
        """Declared at or before the first look at which every arm had `samples`."""
        ready = next((i + 1 for i, n in enumerate(self.samples) if n >= samples), None)
        return self.look is not None and ready is not None and self.look <= ready


def run(scenario: Scenario, spec: Experiment, rng: np.random.Generator) -> Outcome:
    data = simulate(scenario, rng)
    primary = ExperimentMetric(scenario.primary)
    outcome = Outcome()
    for look in range(1, HOURS + 1):
        minutes = look * 60
        evidence = upto(data, minutes)
        outcome.samples.append(
            min(
                e.samples if (e := estimate(arm.observations[primary])) else 0.0
                for arm in evidence.arms.values()
            )
        )
        if outcome.naive_look is None and naive_shown(evidence, primary, spec):
            outcome.naive_look = look
        if outcome.verdict is not None:
            continue
        window = Window(
            started=T0,
            known=True,
            first=T0 + timedelta(minutes=1),
            last=T0 + timedelta(minutes=minutes),
            look=look,
            max_looks=HOURS,
            ended=look == HOURS,
        )
        report = analyse_experiment(spec, evidence, window, "bench", window.last)
        if report.verdict in (Verdict.WINNER, Verdict.LOSER):
            outcome.verdict, outcome.look = report.verdict, look
    return outcome


def naive_shown(evidence: ExperimentData, primary: ExperimentMetric, spec: Experiment) -> bool:
    """Whether an ordinary 95% interval of any treatment's primary metric excludes no
    difference, once both arms have minSamplesPerGroup samples (the same look schedule)."""
    control = estimate(evidence.arms["control"].observations[primary])
    for name in spec.spec.treatments:
        arm = estimate(evidence.arms[name].observations[primary])
        if control is None or arm is None:
            continue
        if min(control.samples, arm.samples) < spec.spec.min_samples_per_group:
            continue
        difference = arm.mean - control.mean
        if abs(difference) > fixed_radius(arm.variance + control.variance, 0.05):
            return True
    return False


# --- report --------------------------------------------------------------------------------------


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """The two-sided 95% Clopper-Pearson interval of k in n."""
    from scipy import stats

    low = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))
    return low, high


def rate(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k / n:.1%} ({k}/{n}) [{low:.1%}, {high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--null", type=int, default=600, help="experiments per null scenario")
    parser.add_argument("--real", type=int, default=200, help="experiments per real difference")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    began = time.perf_counter()
    print(
        f"{HOURS} hourly looks, {PER_ARM_PER_HOUR} requests per arm per hour, alpha 0.05, "
        "minSamplesPerGroup 1000; rates with 95% Clopper-Pearson intervals\n"
    )
    print("(a) null: the variants do not differ")
    print("| scenario | experiments | false winners or losers | naive per-look 95% interval |")
    print("|---|---|---|---|")
    false_total = runs_total = 0
    real: list[tuple[Scenario, list[Outcome]]] = []
    for number, scenario in enumerate(scenarios()):
        spec = experiment(scenario)
        count = args.null if scenario.expected is None else args.real
        outcomes = [
            run(scenario, spec, np.random.default_rng([args.seed, number, i])) for i in range(count)
        ]
        if scenario.expected is None:
            false = sum(o.verdict is not None for o in outcomes)
            naive = sum(o.naive_look is not None for o in outcomes)
            false_total += false
            runs_total += count
            print(
                f"| {scenario.name} | {count} | **{rate(false, count)}** | {rate(naive, count)} |"
            )
        else:
            real.append((scenario, outcomes))
    print(f"| all null scenarios | {runs_total} | **{rate(false_total, runs_total)}** | |")
    print("\n(b) real differences: the right verdict, by the primary samples per arm when declared")
    header = [f"by {n:,} per arm" for n in SAMPLE_POINTS]
    print(
        "| scenario | experiments | expected | "
        + " | ".join(header)
        + " | in 48 h | wrong verdict |"
    )
    print("|---|---|---|" + "---|" * len(header) + "---|---|")
    for scenario, outcomes in real:
        n = len(outcomes)
        right = [o for o in outcomes if o.verdict is scenario.expected]
        wrong = sum(o.verdict is not None and o.verdict is not scenario.expected for o in outcomes)
        cells = [rate(sum(o.declared_by(s) for o in right), n) for s in SAMPLE_POINTS]
        assert scenario.expected is not None
        print(
            f"| {scenario.name} | {n} | {scenario.expected.value} | "
            + " | ".join(cells)
            + f" | **{rate(len(right), n)}** | {wrong} |"
        )
    primary_alpha, _ = comparison_alphas(experiment(scenarios()[0]))
    ratio = confidence_radius(1.0, 2000, primary_alpha, 2000) / fixed_radius(1.0, primary_alpha)
    print(
        f"\nwidth of the confidence sequence at 1,000 per arm (its tuned size) over a fixed "
        f"interval at the same alpha ({primary_alpha:g}): {ratio:.2f}x"
    )
    print(f"took {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
