"""The shipped SLO policy as Prometheus rules, judged by Prometheus's own tools: `promtool check
rules` accepts the file, and `promtool test rules` replays minute-by-minute traffic of route chat
in prod through it and says which alerts fire when.

The shipped `chat-slo` (gateway dialect, evaluated every 1m, failAfter 3) has an availability
objective of 99.9% (error budget 0.001) with the 30d preset, three latency objectives and a TTFT
p50 guard (200ms, for 10m, at least 50 requests). The burn-rate alerts hold `for` (3 - 1) x 1m =
2m. Traffic is 100 requests a minute unless a test says otherwise. promtool 2.x range selectors
include both ends, so a window over whole minutes starts on a sample: no extrapolation, and the
burn rates below are exact.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.policy.dialects import GATEWAY
from controlplane.render.alert_rules import (
    BURN_ALERT,
    GUARD_ALERT,
    AlertingRule,
    AlertRules,
    alert_rules,
    render_rules_yaml,
)
from tests.support.config import REPO, validate
from tests.support.prometheus import require_prometheus

DAY = 24 * 60  # minutes
HEALTHY = {"ttft": 0.05, "tpot": 0.02, "e2e-latency": 0.5}  # seconds, inside every objective
ROUTE = {"route": "chat"}


def test_promtool_accepts_the_rules_of_the_shipped_config(tmp_path: Path) -> None:
    require_prometheus()
    path = tmp_path / "rules.yml"
    path.write_text(render_rules_yaml(shipped(["prod", "staging"])))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 4 objectives x 5 windows x (ratio, events) + 4 x 3 burn alerts + 1 guard, per environment
    assert "SUCCESS: 106 rules found" in checked.stdout


def test_a_healthy_route_fires_nothing(tmp_path: Path) -> None:
    """0.05% errors (half the budget) and every latency inside its objective, for 7 hours: past
    every window but the 3-day one, which then spans the whole history."""
    minutes = 7 * 60
    series = traffic(minutes, errors=[(minutes, 0.05)])
    quiet = [BURN_ALERT, GUARD_ALERT]
    promtool_test(
        tmp_path,
        series,
        {f"{m}m": {alert: [] for alert in quiet} for m in (10, 60, 6 * 60, minutes)},
    )


def test_a_fast_burn_pages_when_the_1h_window_crosses_14_4x(tmp_path: Path) -> None:
    """A day error-free, then 10% errors (100x the budget) from minute ONSET.

    After x minutes the 1h window has 10x errors in 6,000 requests: 1000x/6000 > 14.4 from x = 9
    (the 5m window is far past it), so the 1h/5m page is pending at 9 and fires at 11 (`for`
    2m), at 18.3x: the first alert of all. The whole history (the 3-day window) passes 1x at
    x = 15 (100x/(1440 + x)), so the ticket fires at 17; the 6h window passes 6x at x = 22
    (x/3.6), so the 6h/30m page fires at 24."""
    onset = DAY
    series = traffic(onset + 30, errors=[(onset, 0), (30, 10)])
    rules = shipped(["prod"])
    fast, slow, ticket = (burn_rule(rules, "availability", w) for w in ("1h", "6h", "3d"))
    promtool_test(
        tmp_path,
        series,
        {
            f"{onset + 10}m": {BURN_ALERT: []},
            f"{onset + 11}m": {BURN_ALERT: [fired(fast, "18.3")]},
            f"{onset + 16}m": {BURN_ALERT: [fired(fast, "26.7")]},
            f"{onset + 17}m": {BURN_ALERT: [fired(fast, "28.3"), fired(ticket, "1.2")]},
            f"{onset + 23}m": {BURN_ALERT: [fired(fast, "38.3"), fired(ticket, "1.6")]},
            f"{onset + 24}m": {
                BURN_ALERT: [fired(fast, "40.0"), fired(slow, "6.7"), fired(ticket, "1.6")],
                GUARD_ALERT: [],
            },
        },
        {
            f"{onset + 11}m": {
                'slo:sli_error:ratio_rate1h{objective="availability"}': 110 / 6000,
                'slo:sli_total:increase5m{objective="availability"}': 500,
                'slo:sli_error:ratio_rate1h{objective="ttft-p99"}': 0,
            }
        },
    )


def test_a_slow_burn_opens_only_a_ticket(tmp_path: Path) -> None:
    """0.5% errors (5x the budget) from the start: under 14.4x and 6x, so no page, ever; over 1x
    on 3d and 6h, so a ticket."""
    minutes = 8 * 60
    series = traffic(minutes, errors=[(minutes, 0.5)])
    ticket = burn_rule(shipped(["prod"]), "availability", "3d")
    promtool_test(
        tmp_path,
        series,
        {
            f"{m}m": {BURN_ALERT: [fired(ticket, "5.0")], GUARD_ALERT: []}
            for m in (30, 6 * 60, minutes)
        },
    )


def test_a_latency_guard_breach_fires_after_its_for(tmp_path: Path) -> None:
    """After an hour at 50ms, TTFT is 400ms (inside the 1s objective, over the p50 guard's 200ms).

    The p50 over the last 10m passes 200ms once more than half of its 10 minutes are slow (x = 6),
    and the guard fires 10m (its `for`) later, at x = 16, with the p50 at 400ms (the middle of
    the 300-500ms bucket)."""
    onset = 60
    series = traffic(onset + 30, ttft=[(onset, 0.05), (30, 0.4)])
    rules = shipped(["prod"])
    [guard] = [r for r in alerting(rules) if r.alert == GUARD_ALERT]
    promtool_test(
        tmp_path,
        series,
        {
            f"{onset + 15}m": {GUARD_ALERT: [], BURN_ALERT: []},
            f"{onset + 16}m": {GUARD_ALERT: [fired(guard, "400ms")], BURN_ALERT: []},
        },
    )


def test_too_few_requests_in_a_window_hold_back_its_alert(tmp_path: Path) -> None:
    """4 requests a minute, all failing and slow after the first hour. The guard's 10m window
    holds 40 requests (it needs 50) and the 5m burn window 20 (it needs 100), so neither the guard
    nor the 1h/5m page fires, burning 1000x as they would be; the 6h/30m page and the ticket, whose
    windows hold enough, do (at 333.3x: a third of the 360 requests failed)."""
    onset = 60
    series = traffic(
        onset + 30, rate=4, errors=[(onset, 0), (30, 4)], ttft=[(onset, 0.05), (30, 0.4)]
    )
    rules = shipped(["prod"])
    slow, ticket = (burn_rule(rules, "availability", w) for w in ("6h", "3d"))
    promtool_test(
        tmp_path,
        series,
        {
            f"{onset + 30}m": {
                GUARD_ALERT: [],
                BURN_ALERT: [fired(slow, "333.3"), fired(ticket, "333.3")],
            }
        },
    )


# --- the rules, and what promtool should see ------------------------------------------------------


def shipped(environments: list[str]) -> AlertRules:
    result = validate(REPO, environments)
    assert result.ok, result.problems
    return alert_rules([result.states[e] for e in environments])


def alerting(rules: AlertRules) -> list[AlertingRule]:
    return [r for g in rules.groups for r in g.rules if isinstance(r, AlertingRule)]


def burn_rule(rules: AlertRules, objective: str, long_window: str) -> AlertingRule:
    [rule] = [
        r
        for r in alerting(rules)
        if r.alert == BURN_ALERT
        and r.labels["objective"] == objective
        and r.labels["long_window"] == long_window
    ]
    return rule


def fired(rule: AlertingRule, value: str) -> dict[str, Any]:
    """The alert `rule` raises on route chat, its annotations rendered with `value`."""

    def expand(text: str) -> str:
        for template in ('{{ $value | printf "%.1f" }}', "{{ $value | humanizeDuration }}"):
            text = text.replace(template, value)
        return text.replace("{{ $labels.route }}", "chat")

    return {
        "exp_labels": {**rule.labels, "route": "chat"},
        "exp_annotations": {k: expand(v) for k, v in rule.annotations.items()},
    }


# --- traffic ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    name: str
    labels: Mapping[str, str]
    values: str  # promtool's expanding notation, one value a minute from 0

    def document(self) -> dict[str, str]:
        text = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return {"series": f"{self.name}{{{text}}}", "values": self.values}


def counter(segments: list[tuple[int, float]]) -> str:
    """A counter from 0 at minute 0: `segments` of (minutes, increase per minute)."""
    parts, value = ["0"], 0.0
    for minutes, rate in segments:
        parts.append(f"{value + rate:.12g}+{rate:.12g}x{minutes - 1}")
        value += rate * minutes
    return " ".join(parts)


def traffic(
    minutes: int,
    rate: float = 100,
    errors: list[tuple[int, float]] | None = None,
    ttft: list[tuple[int, float]] | None = None,
) -> list[Series]:
    """`rate` requests a minute on route chat for `minutes`: `errors` as (minutes, failed
    requests per minute) segments, TTFT as (minutes, seconds) segments; other latencies healthy."""
    failing = errors or [(minutes, 0)]
    series = [
        Series(
            GATEWAY.requests,
            {**ROUTE, "status": "200"},
            counter([(m, rate - e) for m, e in failing]),
        ),
        Series(GATEWAY.requests, {**ROUTE, "status": "500"}, counter(failing)),
    ]
    for metric, latency in HEALTHY.items():
        segments = ttft if metric == "ttft" and ttft else [(minutes, latency)]
        base = GATEWAY.histogram(metric)
        for bound in (*GATEWAY.buckets[metric], float("inf")):
            le = "+Inf" if bound == float("inf") else repr(bound)
            values = counter([(m, rate if s <= bound else 0) for m, s in segments])
            series.append(Series(f"{base}_bucket", {**ROUTE, "le": le}, values))
        series.append(Series(f"{base}_count", ROUTE, counter([(m, rate) for m, _ in segments])))
    return series


def promtool_test(
    tmp: Path,
    series: list[Series],
    alerts: Mapping[str, Mapping[str, list[dict[str, Any]]]],
    values: Mapping[str, Mapping[str, float]] | None = None,
) -> None:
    """Run `promtool test rules` on the shipped prod rules: at each eval time, exactly these
    alerts fire (an empty list: none of that name), and these expressions have these values."""
    require_prometheus()
    (tmp / "rules.yml").write_text(render_rules_yaml(shipped(["prod"])))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [s.document() for s in series],
                "alert_rule_test": [
                    {"eval_time": at, "alertname": name, "exp_alerts": expected}
                    for at, by_name in alerts.items()
                    for name, expected in by_name.items()
                ],
                "promql_expr_test": [
                    {"expr": expr, "eval_time": at, "exp_samples": [sample(expr, value)]}
                    for at, by_expr in (values or {}).items()
                    for expr, value in by_expr.items()
                ],
            }
        ],
    }
    (tmp / "test.yml").write_text(json.dumps(test))  # JSON is YAML
    result = subprocess.run(
        ["promtool", "test", "rules", "test.yml"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


def sample(expr: str, value: float) -> dict[str, Any]:
    """The one series a recording rule selected by objective has on route chat in prod."""
    name, _, rest = expr.partition("{")
    objective = rest.split('"')[1]
    labels = {"environment": "prod", "policy": "chat-slo", "objective": objective, **ROUTE}
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"labels": f"{name}{{{text}}}", "value": value}
