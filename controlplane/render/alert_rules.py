"""SLO policies as Prometheus rules, so pages come from Prometheus even when controlplane is down.

For every SLOPolicy that selects an environment, one rule group (evaluated at the policy's
`interval`) holds, per objective:

- recording rules of the SLI's error ratio and event count on each route, over every window its
  burn-rate pairs use (`slo:sli_error:ratio_rate5m`, `slo:sli_total:increase5m`, as Sloth and the
  SRE Workbook name them), labelled environment, policy, objective and route;
- one multi-window, multi-burn-rate alert per window pair: the long and the short window both burn
  faster than the factor, each with at least `minEvents` events (what the scheduler checks), with
  the pair's severity and `for: (failAfter - 1) x interval`, so the alert fires at the tick the
  scheduler would count the policy as failing;

and per threshold guard and route, an alert on `histogram_quantile` over the guard's `for` window,
with at least `minSamples` requests, that must hold for `for`.

The SLI queries are the evaluator's own (`policy.slo.sli_queries`), in each environment's dialect.
A check whose metrics the dialect lacks (errors on vLLM) is left out and said so. Pure: values in,
a value out, and text renderers of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, assert_never

import yaml

from controlplane.errors import MetricsUnavailable
from controlplane.policy.dialects import DIALECTS, Dialect
from controlplane.policy.guards import guard_queries
from controlplane.policy.slo import burn_windows, sli_queries
from controlplane.spec import DesiredState, Route
from controlplane.spec.base import format_duration
from controlplane.spec.policy import (
    BurnRateWindow,
    ErrorSli,
    FeedbackSli,
    LatencySli,
    Objective,
    QuerySli,
    Severity,
    SLOPolicy,
    ThresholdGuard,
)

BURN_ALERT = "SLOErrorBudgetBurn"
GUARD_ALERT = "SLOLatencyGuard"
_DAY = timedelta(days=1)
_METRIC_WORDS = {
    "ttft": "time to first token",
    "tpot": "time per output token",
    "e2e-latency": "end-to-end latency",
}


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class AlertingRule:
    alert: str
    expr: str
    for_: timedelta
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


Rule = RecordingRule | AlertingRule


@dataclass(frozen=True)
class RuleGroup:
    """The rules of one policy in one environment, evaluated in order at `interval`."""

    name: str
    interval: timedelta
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Omission:
    """A check (or a whole environment) that has no rule, and why."""

    environment: str
    what: str
    reason: str

    def __str__(self) -> str:
        where = f"environment {self.environment!r}"
        return f"{self.what + ' in ' if self.what else ''}{where}: no rules ({self.reason})"


@dataclass(frozen=True)
class AlertRules:
    groups: tuple[RuleGroup, ...]
    omitted: tuple[Omission, ...] = ()

    def counts(self) -> tuple[int, int]:
        """(recording rules, alerting rules)."""
        rules = [r for g in self.groups for r in g.rules]
        recording = sum(1 for r in rules if isinstance(r, RecordingRule))
        return recording, len(rules) - recording

    def document(self) -> dict[str, Any]:
        """The Prometheus rule file (`rule_files:`), as plain data."""
        return {"groups": [_group_document(g) for g in self.groups]}


def alert_rules(states: Iterable[DesiredState]) -> AlertRules:
    """The rules of every SLOPolicy that selects each environment, on the routes it selects."""
    groups: list[RuleGroup] = []
    omitted: list[Omission] = []
    for state in states:
        prometheus = state.environment.spec.prometheus
        dialect = DIALECTS[prometheus.dialect if prometheus else "gateway"]
        if not state.slo_policies:
            omitted.append(Omission(state.name, "", "no SLOPolicy selects it"))
        for policy in state.slo_policies:
            routes = _routes(state, policy)
            if not routes:
                omitted.append(
                    Omission(state.name, policy.ref, "it selects no route of the environment")
                )
                continue
            rules: list[Rule] = []
            for objective in policy.spec.objectives:
                try:
                    rules += _objective_rules(state.name, policy, objective, dialect, routes)
                except MetricsUnavailable as exc:
                    what = f"{policy.ref} objective {objective.name}"
                    omitted.append(Omission(state.name, what, str(exc)))
            for guard in policy.spec.guards:
                rules += [_guard_rule(state.name, policy, guard, dialect, r) for r in routes]
            if rules:
                name = f"controlplane/{state.name}/{policy.name}"
                groups.append(RuleGroup(name, policy.spec.interval, tuple(rules)))
    return AlertRules(tuple(groups), tuple(omitted))


def render_rules_yaml(rules: AlertRules) -> str:
    """The rule file as YAML, multi-line expressions as literal blocks."""
    header = (
        "# Prometheus rules rendered by `controlplane alerts` from SLOPolicy resources.\n"
        "# Do not edit: change the policies and render again.\n"
    )
    body = yaml.dump(
        rules.document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**31
    )
    return header + body


def render_rules_json(rules: AlertRules) -> str:
    """The rule file as JSON (which Prometheus reads as YAML)."""
    return json.dumps(rules.document(), indent=2, ensure_ascii=False) + "\n"


# --- rules --------------------------------------------------------------------------------------


def ratio_record(window: timedelta) -> str:
    return f"slo:sli_error:ratio_rate{_span(window)}"


def events_record(window: timedelta) -> str:
    return f"slo:sli_total:increase{_span(window)}"


def _routes(state: DesiredState, policy: SLOPolicy) -> list[Route]:
    """The routes the policy's selector names, in the state's order (all when it names none)."""
    chosen = set(policy.spec.selector.routes)
    return [r for r in state.routes if not chosen or r.name in chosen]


def _objective_rules(
    environment: str,
    policy: SLOPolicy,
    objective: Objective,
    dialect: Dialect,
    routes: Sequence[Route],
) -> list[Rule]:
    pairs = burn_windows(objective)
    windows = sorted({w for pair in pairs for w in (pair.long, pair.short)})
    owner = {"environment": environment, "policy": policy.name, "objective": objective.name}
    rules: list[Rule] = []
    for route in routes:
        labels = {**owner, "route": route.name}
        for window in windows:
            bad, total = sli_queries(objective.sli, dialect, route.name, window)
            ratio = f"({bad} or vector(0)) / {_operand(total)}"
            rules.append(RecordingRule(ratio_record(window), ratio, labels))
            rules.append(RecordingRule(events_record(window), total, labels))
    return rules + [_burn_rule(policy, objective, pair, owner) for pair in pairs]


def _burn_rule(
    policy: SLOPolicy, objective: Objective, pair: BurnRateWindow, owner: Mapping[str, str]
) -> AlertingRule:
    budget = 1 - objective.target / 100
    selector = "{" + ",".join(f'{k}="{v}"' for k, v in owner.items()) + "}"
    factor = _number(pair.factor)
    expr = "\nand ".join(
        [
            *(
                f"{ratio_record(w)}{selector} / {_number(budget)} > {factor}"
                for w in (pair.long, pair.short)
            ),
            *(
                f"{events_record(w)}{selector} >= {objective.min_events}"
                for w in (pair.long, pair.short)
            ),
        ]
    )
    long, short = _span(pair.long), _span(pair.short)
    bad, every = _sli_words(objective.sli)
    environment = owner["environment"]
    if pair.severity is Severity.PAGE:
        action = (
            "Page: act now. controlplane, when running, counts this as a failure of the policy "
            f"(remediation: {policy.spec.remediation.strategy.value})."
        )
    else:
        action = "Ticket: at this pace the budget runs out before the SLO window ends."
    description = (
        f"{bad.capitalize()} are over {_percent(pair.factor * budget * 100)}% of {every} on "
        f"route {{{{ $labels.route }}}} over both the last {long} and {short}, with at least "
        f"{objective.min_events} {every} in each: {factor}x the "
        f"{_percent(budget * 100)}% error budget of the {_percent(objective.target)}% target "
        f"over {_span(objective.window)}. At this rate that budget is spent in "
        f"{_span(objective.window / pair.factor)}. {action} Evidence: `controlplane evaluate "
        f"--env {environment} --policy {policy.name}`."
    )
    return AlertingRule(
        alert=BURN_ALERT,
        expr=expr,
        for_=policy.spec.interval * (policy.spec.fail_after - 1),
        labels={
            **owner,
            "severity": pair.severity.value,
            "long_window": long,
            "short_window": short,
        },
        annotations={
            "summary": f"SLO {policy.name}/{objective.name} in {environment}: route "
            f"{{{{ $labels.route }}}} burns its error budget over {factor}x as fast as allowed",
            "burn_rate": f'{{{{ $value | printf "%.1f" }}}}x over the last {long} '
            f"({_severity_word(pair.severity)} above {factor}x over {long} and {short})",
            "description": description,
        },
    )


def _guard_rule(
    environment: str, policy: SLOPolicy, guard: ThresholdGuard, dialect: Dialect, route: Route
) -> AlertingRule:
    quantile, count = guard_queries(guard, dialect, route.name)
    threshold, window = _span(guard.threshold), _span(guard.for_)
    percentile = f"p{guard.quantile * 100:g}"
    words = _METRIC_WORDS[guard.metric]
    return AlertingRule(
        alert=GUARD_ALERT,
        expr=f"{quantile} > {_number(guard.threshold.total_seconds())}\n"
        f"and {count} >= {guard.min_samples}",
        for_=guard.for_,
        labels={
            "environment": environment,
            "policy": policy.name,
            "guard": guard.name,
            "route": route.name,
            "severity": Severity.PAGE.value,
        },
        annotations={
            "summary": f"{percentile} {words} of route {route.name} in {environment} is above "
            f"{threshold} (SLO {policy.name}/{guard.name})",
            "value": f"{{{{ $value | humanizeDuration }}}} over the last {window}",
            "description": f"The {percentile} {words} of route {route.name} over the last "
            f"{window} has stayed above {threshold} for {window}, with at least "
            f"{guard.min_samples} requests in the window. Page: act now. controlplane, when "
            "running, counts this as a failure of the policy (remediation: "
            f"{policy.spec.remediation.strategy.value}). Evidence: `controlplane evaluate "
            f"--env {environment} --policy {policy.name}`.",
        },
    )


def _severity_word(severity: Severity) -> str:
    return {Severity.PAGE: "pages", Severity.TICKET: "tickets"}[severity]


def _sli_words(sli: ErrorSli | LatencySli | QuerySli | FeedbackSli) -> tuple[str, str]:
    """(bad events, all events) in words."""
    match sli:
        case ErrorSli():
            return "failed requests", "requests"
        case LatencySli():
            words = _METRIC_WORDS[sli.metric]
            return f"requests with a {words} over {_span(sli.threshold)}", "requests"
        case QuerySli():
            return "bad events (badQuery)", "events (totalQuery)"
        case FeedbackSli():
            return "thumbs down", "thumbs"
        case _:
            assert_never(sli)


# --- text ---------------------------------------------------------------------------------------


def _group_document(group: RuleGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "interval": format_duration(group.interval),
        "rules": [_rule_document(r) for r in group.rules],
    }


def _rule_document(rule: Rule) -> dict[str, Any]:
    match rule:
        case RecordingRule():
            return {"record": rule.record, "expr": rule.expr, "labels": dict(rule.labels)}
        case AlertingRule():
            held = {"for": format_duration(rule.for_)} if rule.for_ else {}
            return {
                "alert": rule.alert,
                "expr": rule.expr,
                **held,
                "labels": dict(rule.labels),
                "annotations": dict(rule.annotations),
            }
        case _:
            assert_never(rule)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (alert expressions) as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    )


_Dumper.add_representer(str, _represent_str)


def _number(value: float) -> str:
    """A PromQL number: 0.001, not 0.0010000000000000009."""
    return f"{value:.12g}"


def _percent(value: float) -> str:
    return f"{value:.4g}"


def _span(value: timedelta) -> str:
    """A duration in days rather than weeks (30d, not 4w2d); otherwise Prometheus's form."""
    if value >= _DAY and not value % _DAY:
        return f"{value // _DAY}d"
    return format_duration(value)


def _operand(expr: str) -> str:
    """`expr` as the right operand of `/`: as it is when one call or bracket spans it whole."""
    start = expr.find("(")
    if start > 0 and not expr[:start].replace("_", "").isalnum():
        start = -1
    if start >= 0 and _closing(expr, start) == len(expr) - 1:
        return expr
    return f"({expr})"


def _closing(expr: str, start: int) -> int:
    """The index of the bracket that closes the one at `start`, or -1."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(expr)):
        char = expr[i]
        if quote:  # inside a string literal: brackets there do not count
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1
