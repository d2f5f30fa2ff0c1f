"""Benchmark of judgement: how often the shipped canary policy rolls back a healthy canary, how
soon it catches a real regression, and how often it would promote a canary that is exactly as
much worse as it allows (a PASS there is a false promotion: promotion PRs open on PASS only).

Many rollouts are simulated (one route each, or 60 routes per policy where the scenario says so)
and backfilled into a real Prometheus with promtool: the gateway's metric names, labels and
bucket bounds, a baseline and a 10% canary, counters scraped every minute. Then an hour of
looks, one a minute, runs through the path `serve` uses: PolicyRunner with a SQLite history, the
canary starts it records, and the batched Prometheus source, with the shipped
`policies/canary-chat.yaml` as every rollout's policy. A rollout is rolled back when the runner
would ask for a rollback (a failing result that counts as failing).

Beside it, on the same simulated counts, a naive analysis: each look tests the last 10 minutes of
both arms at the full alpha (0.05), as a sliding window, rolled back after 2 failing looks.

Rates are the canary arm's (as in the issue: 1k requests/h is 167 canary requests per 10 minutes);
the baseline gets nine times as many. TTFT is lognormal (median 350 ms, sigma 0.5), end-to-end
latency lognormal (median 4 s, sigma 0.6), 0.2% of requests fail (HTTP 500).

The runner's speed is measured apart, with --scale N: N healthy canaries at 10k/h, one policy
each, and the time of each of the hour's ticks (the history holding every earlier result).

Run: .venv/bin/python benchmarks/canary_bench.py [--healthy 400] [--regressed 100] [--seed 2026]
                                                 [--only TEXT]  (scenarios whose name has TEXT)
     .venv/bin/python benchmarks/canary_bench.py --scale 1000
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.history import SqlHistory
from controlplane.history.records import AttemptResult, Trigger
from controlplane.policy import Evaluation, Outcome
from controlplane.policy.dialects import GATEWAY
from controlplane.policy.stats import (
    auc_p,
    quantile_from_buckets,
    score_matrix,
    stratified_auc,
    stratified_error_p,
)
from controlplane.service.metrics import ControllerMetrics
from controlplane.service.policies import PolicyRunner
from controlplane.service.reconciler import Reconciler
from controlplane.spec import DesiredState, Environment, Model, Route
from controlplane.spec.policy import CanaryAnalysis
from controlplane.testing.processes import free_port
from tests.support.prometheus import prometheus_from

Array = npt.NDArray[np.float64]
ROOT = Path(__file__).resolve().parent.parent
V = "controlplane.dev/v1alpha1"
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # the apply that put every canary live
BEFORE, LOOKS = 10, 60  # minutes of baseline-only history, and looks after the canary went live
MINUTES = BEFORE + LOOKS
TTFT = (0.35, 0.5)  # lognormal median (s), sigma
E2E = (4.0, 0.6)
ERRORS = 0.002
ROUTES_PER_SHARED_POLICY = 60


@dataclass(frozen=True)
class Scenario:
    name: str
    rollouts: int
    per_hour: float  # canary requests per hour
    healthy: bool
    ttft: float = 1.0  # canary latency factor
    error_points: float = 0.0  # canary errors above the baseline's, in points
    shared_slowdown: bool = False  # both arms x2 latency for 5 minutes at a random time
    shared_errors: bool = False  # both arms 5% errors for 5 minutes at a random time
    routes_per_policy: int = 1
    total_requests: int | None = None  # a fixed number over the hour instead of a rate
    no_data: bool = False


def scenarios(healthy: int, regressed: int) -> list[Scenario]:
    many = max(1, round(healthy / ROUTES_PER_SHARED_POLICY)) * ROUTES_PER_SHARED_POLICY
    return [
        Scenario("healthy, 1k/h", healthy, 1_000, True),
        Scenario("healthy, 10k/h", healthy, 10_000, True),
        Scenario(
            "healthy, 10k/h, shared 5-minute slowdown", healthy, 10_000, True, shared_slowdown=True
        ),
        Scenario(
            "healthy, 10k/h, shared 5-minute error burst", healthy, 10_000, True, shared_errors=True
        ),
        Scenario(
            f"healthy, 10k/h, {ROUTES_PER_SHARED_POLICY} routes per policy",
            many,
            10_000,
            True,
            routes_per_policy=ROUTES_PER_SHARED_POLICY,
        ),
        # At exactly the allowed increase: a PASS here is a false promotion.
        Scenario("+10% TTFT (the allowed), 10k/h", healthy, 10_000, False, ttft=1.1),
        Scenario(
            "+0.15 points errors (the allowed), 10k/h", healthy, 10_000, False, error_points=0.15
        ),
        Scenario("+20% TTFT, 10k/h", regressed, 10_000, False, ttft=1.2),
        Scenario("+50% TTFT, 10k/h", regressed, 10_000, False, ttft=1.5),
        Scenario("+1 point errors, 10k/h", regressed, 10_000, False, error_points=1.0),
        Scenario(
            f"+20% TTFT, 10k/h, {ROUTES_PER_SHARED_POLICY} routes per policy",
            ROUTES_PER_SHARED_POLICY,
            10_000,
            False,
            ttft=1.2,
            routes_per_policy=ROUTES_PER_SHARED_POLICY,
        ),
        Scenario("+50% TTFT, 1k/h", regressed, 1_000, False, ttft=1.5),
        Scenario("+3 points errors, 1k/h", regressed, 1_000, False, error_points=3.0),
        Scenario("no data", 20, 0, True, no_data=True),
        Scenario("20 requests in the hour", 20, 0, True, total_requests=20),
    ]


@dataclass
class Rollout:
    """One simulated route: per-minute counts of each arm (minutes x buckets for latency)."""

    route: str
    scenario: Scenario
    requests: dict[str, Array] = field(default_factory=dict)
    errors: dict[str, Array] = field(default_factory=dict)
    ttft: dict[str, Array] = field(default_factory=dict)
    e2e: dict[str, Array] = field(default_factory=dict)


def bucket_shares(bounds: tuple[float, ...], median: Array, sigma: float) -> Array:
    """Share of a lognormal in each bucket (the last is +Inf), per minute: minutes x buckets."""
    from scipy import stats

    edges = np.array(bounds)
    cdf = stats.norm.cdf((np.log(edges)[None, :] - np.log(median)[:, None]) / sigma)
    shares = np.diff(
        np.concatenate([np.zeros((len(median), 1)), cdf, np.ones((len(median), 1))], axis=1), axis=1
    )
    return cast(Array, np.clip(shares, 0, None) / shares.sum(axis=1, keepdims=True))


def simulate(scenario: Scenario, number: int, index: int, rng: np.random.Generator) -> Rollout:
    rollout = Rollout(f"s{number}-r{index}", scenario)
    live = np.arange(MINUTES) >= BEFORE
    disturbed = np.zeros(MINUTES, dtype=bool)
    if scenario.shared_slowdown or scenario.shared_errors:
        onset = BEFORE + int(rng.integers(0, LOOKS - 5))
        disturbed[onset : onset + 5] = True
    for arm, share in (("canary", 0.1), ("default", 0.9)):
        rate = scenario.per_hour / 60 * share / 0.1
        if scenario.no_data:
            n = np.zeros(MINUTES)
        elif scenario.total_requests is not None:
            n = np.zeros(MINUTES)
            for minute in rng.integers(BEFORE, MINUTES, scenario.total_requests):
                n[minute] += 1 if rng.random() < share else 0
        else:
            n = rng.poisson(rate, MINUTES).astype(float)
        if arm == "canary":
            n = np.where(live, n, 0.0)
        factor = scenario.ttft if arm == "canary" else 1.0
        slow = np.where(disturbed & scenario.shared_slowdown, 2.0, 1.0)
        error_rate = np.full(MINUTES, ERRORS) + (
            scenario.error_points / 100 if arm == "canary" else 0
        )
        error_rate = np.where(disturbed & scenario.shared_errors, error_rate + 0.05, error_rate)
        counts = n.astype(np.int64)
        rollout.requests[arm] = n
        rollout.errors[arm] = rng.binomial(counts, error_rate).astype(float)
        rollout.ttft[arm] = rng.multinomial(
            counts, bucket_shares(GATEWAY.buckets["ttft"], TTFT[0] * factor * slow, TTFT[1])
        ).astype(float)
        rollout.e2e[arm] = rng.multinomial(
            counts, bucket_shares(GATEWAY.buckets["e2e-latency"], E2E[0] * slow, E2E[1])
        ).astype(float)
    return rollout


# --- OpenMetrics -------------------------------------------------------------------------------


def sample_times() -> list[int]:
    """Counters are scraped at the end of each simulated minute; one sample before the first."""
    first = int((T0 - timedelta(minutes=BEFORE)).timestamp())
    return [first + 60 * m for m in range(MINUTES + 1)]


def write_series(
    out: IO[str], name: str, labels: str, per_minute: Array, starts_live: bool
) -> None:
    """A counter's samples: cumulative, from zero; a canary series appears when it has traffic."""
    cumulative = np.concatenate([[0.0], np.cumsum(per_minute)])
    times = sample_times()
    for m, (t, v) in enumerate(zip(times, cumulative, strict=True)):
        if starts_live and m <= BEFORE:
            continue
        out.write(f"{name}{{{labels}}} {v:.0f} {t}\n")


def write_openmetrics(path: Path, rollouts: list[Rollout]) -> None:
    with path.open("w") as out:
        out.write("# TYPE llm_gateway_requests counter\n")
        for r in rollouts:
            for arm in ("canary", "default"):
                arm_labels = f'model="m-{arm}",route="{r.route}",variant="{arm}"'
                ok = r.requests[arm] - r.errors[arm]
                for status, counts in (("200", ok), ("500", r.errors[arm])):
                    if counts.sum() > 0:
                        write_series(
                            out,
                            "llm_gateway_requests_total",
                            f'{arm_labels},status="{status}"',
                            counts,
                            arm == "canary",
                        )
        for family, key in (
            ("llm_gateway_time_to_first_token_seconds", "ttft"),
            ("llm_gateway_e2e_request_latency_seconds", "e2e-latency"),
        ):
            out.write(f"# TYPE {family} histogram\n")
            bounds = [*GATEWAY.buckets[key], math.inf]
            for r in rollouts:
                for arm in ("canary", "default"):
                    counts = (r.ttft if key == "ttft" else r.e2e)[arm]
                    if counts.sum() == 0:
                        continue
                    arm_labels = f'model="m-{arm}",route="{r.route}",variant="{arm}"'
                    cumulative = np.cumsum(counts, axis=1)
                    for i, bound in enumerate(bounds):
                        le = "+Inf" if math.isinf(bound) else repr(bound)
                        write_series(
                            out,
                            f"{family}_bucket",
                            f'{arm_labels},le="{le}"',
                            cumulative[:, i],
                            arm == "canary",
                        )
                    write_series(
                        out, f"{family}_count", arm_labels, counts.sum(axis=1), arm == "canary"
                    )
        out.write("# EOF\n")


# --- the serve path ----------------------------------------------------------------------------


def doc(kind: type[Any], name: str, spec: dict[str, Any]) -> Any:
    return kind.model_validate(
        {"apiVersion": V, "kind": kind.KIND, "metadata": {"name": name}, "spec": spec}
    )


def shipped_policy() -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "policies" / "canary-chat.yaml").read_text())["spec"]
    return cast(dict[str, Any], spec)


def desired(url: str, rollouts: list[Rollout]) -> DesiredState:
    environment = doc(
        Environment,
        "bench",
        {
            "targets": [{"type": "gateway", "url": "http://127.0.0.1:9", "token": "env:X"}],
            "prometheus": {"url": url},
        },
    )
    models = tuple(
        doc(
            Model,
            f"m-{arm}",
            {"baseModel": "meta-llama/Llama-3.1-8B-Instruct", "framework": "vllm"},
        )
        for arm in ("canary", "default")
    )
    routes = tuple(
        doc(Route, r.route, {"model": "m-default", "canary": {"model": "m-canary", "percent": 10}})
        for r in rollouts
    )
    template = shipped_policy()
    policies: list[CanaryAnalysis] = []
    i = 0
    while i < len(rollouts):
        size = rollouts[i].scenario.routes_per_policy
        chosen = [r.route for r in rollouts[i : i + size]]
        policies.append(
            doc(CanaryAnalysis, f"canary-{i}", {**template, "selector": {"routes": chosen}})
        )
        i += size
    return DesiredState(
        environment=environment, models=models, routes=routes, canary_analyses=tuple(policies)
    )


@dataclass
class Verdicts:
    rolled_back: dict[str, int] = field(default_factory=dict)  # route -> look
    passed: dict[str, int] = field(default_factory=dict)
    tick_seconds: list[float] = field(default_factory=list)
    inconclusive_reasons: dict[str, str] = field(default_factory=dict)


def judge(url: str, rollouts: list[Rollout], tmp: Path) -> Verdicts:
    state = desired(url, rollouts)
    history = SqlHistory(f"sqlite:///{tmp / 'history.db'}")
    attempt = history.start(state.name, "0" * 40, "bench", "canaries go live", Trigger.WEBHOOK, T0)
    history.finish(attempt, AttemptResult.APPLIED, T0)
    now = [T0]
    runner = PolicyRunner(
        cast(Reconciler, None), history, ControllerMetrics(), clock=lambda: now[0]
    )
    policies = {p.name: p for p in state.canary_analyses}
    verdicts = Verdicts()
    for look in range(1, LOOKS + 1):
        now[0] = T0 + timedelta(minutes=look, seconds=35)
        began = time.perf_counter()
        results = runner._run(state, list(policies.values()))
        verdicts.tick_seconds.append(time.perf_counter() - began)
        for result in results:
            if result.outcome is Outcome.FAIL and runner.failing(policies[result.policy], result):
                verdicts.rolled_back.setdefault(result.route, look)
            if result.outcome is Outcome.PASS:
                verdicts.passed.setdefault(result.route, look)
            if look == LOOKS and result.outcome is Outcome.INCONCLUSIVE:
                verdicts.inconclusive_reasons[result.route] = result.reason
    return verdicts


def prometheus_down(rollouts: list[Rollout], tmp: Path) -> int:
    """Looks at canaries whose Prometheus does not answer: how many results were FAIL."""
    state = desired(f"http://127.0.0.1:{free_port()}", rollouts)
    history = SqlHistory(f"sqlite:///{tmp / 'down.db'}")
    now = [T0 + timedelta(minutes=30)]
    runner = PolicyRunner(
        cast(Reconciler, None), history, ControllerMetrics(), clock=lambda: now[0]
    )
    failed = 0
    for look in (5, 30, 60):
        now[0] = T0 + timedelta(minutes=look, seconds=35)
        results: list[Evaluation] = runner._run(state, list(state.canary_analyses))
        failed += sum(r.outcome is Outcome.FAIL for r in results)
    return failed


# --- the naive analysis, on the same counts ----------------------------------------------------


def naive(
    rollout: Rollout, spec: dict[str, Any], window: int = 10, alpha: float = 0.05
) -> int | None:
    """The first look a sliding-window analysis at the full alpha would roll back at, if any."""
    scores = {
        key: score_matrix([*GATEWAY.buckets[key], math.inf], 0.0) for key in ("ttft", "e2e-latency")
    }
    failing = 0
    for look in range(1, LOOKS + 1):
        end = BEFORE + look
        span = slice(end - window, end)
        n_c, n_b = rollout.requests["canary"][span].sum(), rollout.requests["default"][span].sum()
        failed = False
        if min(n_c, n_b) >= spec["minSamplesPerArm"]:
            for check in spec["latency"]:
                counts = rollout.ttft if check["metric"] == "ttft" else rollout.e2e
                c, b = counts["canary"][span].sum(axis=0), counts["default"][span].sum(axis=0)
                auc, se = stratified_auc(c[None, :], b[None, :], scores[check["metric"]])
                bounds = [*GATEWAY.buckets[check["metric"]], math.inf]
                median_c = quantile_from_buckets(bounds, c.tolist(), 0.5) or 0.0
                median_b = quantile_from_buckets(bounds, b.tolist(), 0.5) or 1.0
                increase = (median_c / median_b - 1) * 100
                if (
                    auc_p(auc, se, greater=True) < alpha
                    and increase > check["allowedIncreasePercent"]
                ):
                    failed = True
            e_c, e_b = rollout.errors["canary"][span].sum(), rollout.errors["default"][span].sum()
            points = (e_c / n_c - e_b / n_b) * 100
            p = stratified_error_p(
                np.array([e_c]), np.array([n_c]), np.array([e_b]), np.array([n_b]), 1.0, True
            )
            if p < alpha and points > spec["errors"]["allowedIncreasePoints"]:
                failed = True
        failing = failing + 1 if failed else 0
        if failing >= 2:
            return look
    return None


# --- report ------------------------------------------------------------------------------------


def upper_95(k: int, n: int) -> float:
    """Upper end of the two-sided 95% Clopper-Pearson interval of k in n."""
    from scipy import stats

    return 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))


def enough_at(rollout: Rollout, minimum: int) -> int | None:
    """The first look at which both arms have `minimum` requests since the canary went live."""
    c = np.cumsum(rollout.requests["canary"][BEFORE:])
    b = np.cumsum(rollout.requests["default"][BEFORE:])
    ready = np.nonzero((c >= minimum) & (b >= minimum))[0]
    return int(ready[0]) + 1 if ready.size else None


def report(groups: dict[Scenario, list[Rollout]], verdicts: Verdicts, spec: dict[str, Any]) -> None:
    minimum = spec["minSamplesPerArm"]
    columns = (
        "scenario",
        "rollouts",
        "rolled back",
        "upper 95%",
        "within 15 min of enough samples",
        "median minutes to rollback",
        "passed = promoted (median minute)",
        "upper 95% (promoted)",
        "naive: rolled back",
        "naive: median minutes",
    )
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for scenario, rollouts in groups.items():
        n = len(rollouts)
        looks = [verdicts.rolled_back[r.route] for r in rollouts if r.route in verdicts.rolled_back]
        quick = 0
        for r in rollouts:
            ready = enough_at(r, minimum)
            if (
                r.route in verdicts.rolled_back
                and ready is not None
                and verdicts.rolled_back[r.route] - ready <= 15
            ):
                quick += 1
        passes = [verdicts.passed[r.route] for r in rollouts if r.route in verdicts.passed]
        naive_looks = [x for x in (naive(r, spec) for r in rollouts) if x is not None]
        median = f"{statistics.median(looks):.0f}" if looks else "-"
        naive_median = f"{statistics.median(naive_looks):.0f}" if naive_looks else "-"
        passed = (
            f"{len(passes) / n:.1%} ({len(passes)}; minute {statistics.median(passes):.0f})"
            if passes
            else "0.0% (0)"
        )
        within = "-" if scenario.healthy else f"{quick / n:.0%}"
        print(
            f"| {scenario.name} | {n} | {len(looks) / n:.1%} ({len(looks)}) | "
            f"{upper_95(len(looks), n):.1%} | {within} | {median} | {passed} | "
            f"{upper_95(len(passes), n):.1%} | "
            f"{len(naive_looks) / n:.1%} ({len(naive_looks)}) | {naive_median} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--healthy", type=int, default=400, help="rollouts per healthy scenario")
    parser.add_argument("--regressed", type=int, default=100, help="rollouts per regression")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", metavar="TEXT", help="only scenarios whose name has TEXT")
    parser.add_argument(
        "--scale", type=int, metavar="N", help="only time ticks of N canary policies"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    chosen = (
        [Scenario("scale", args.scale, 10_000, True)]
        if args.scale
        else [s for s in scenarios(args.healthy, args.regressed) if (args.only or "") in s.name]
    )
    groups = {
        s: [simulate(s, number, i, rng) for i in range(s.rollouts)]
        for number, s in enumerate(chosen)
    }
    rollouts = [r for group in groups.values() for r in group]
    spec = shipped_policy()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        began = time.perf_counter()
        write_openmetrics(tmp / "history.om", rollouts)
        with prometheus_from(tmp, tmp / "history.om") as url:
            backfill = time.perf_counter() - began
            print(f"{len(rollouts)} rollouts simulated and backfilled in {backfill:.0f} s")
            verdicts = judge(url, rollouts, tmp)
        down = 0 if args.scale else prometheus_down(rollouts[:5], tmp)
    ticks = verdicts.tick_seconds
    print(
        f"serve path: {len({r.route for r in rollouts})} canaries in "
        f"{len(desired('http://x', rollouts).canary_analyses)} policies; a tick took "
        f"{statistics.median(ticks):.2f} s median, {max(ticks):.2f} s at most over {LOOKS} looks"
    )
    if args.scale:
        quartiles = statistics.quantiles(ticks, n=4)
        print(f"tick seconds: first {ticks[0]:.2f}, quartiles {quartiles}, last {ticks[-1]:.2f}")
        return
    print(f"Prometheus down: {down} FAIL results")
    report(groups, verdicts, spec)


if __name__ == "__main__":
    main()
