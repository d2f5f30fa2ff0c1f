"""SLO policies rendered as Prometheus rules: what each rule asks, which routes and environments
get rules, the dialect's metric names, and the file pinned as a golden. (promtool runs them in
tests/integration/test_alert_rules.py.)"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from controlplane.policy.dialects import DIALECTS
from controlplane.policy.guards import evaluate_guard
from controlplane.policy.slo import evaluate_objective
from controlplane.policy.source import MinuteValues
from controlplane.render.alert_rules import (
    BURN_ALERT,
    GUARD_ALERT,
    AlertingRule,
    AlertRules,
    RecordingRule,
    alert_rules,
    render_rules_json,
    render_rules_yaml,
)
from tests.support.config import REPO, edit, validate
from tests.support.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
RECORDED = re.compile(r"(slo:[a-z_]+:[a-z_0-9]+)\{([^}]*)\}")

POLICY = """\
apiVersion: controlplane.dev/v1alpha1
kind: SLOPolicy
metadata:
  name: {name}
spec:
  selector:
    environments: [prod]
    routes: {routes}
  interval: 30s
  failAfter: 1
  objectives:
    - name: answers
      sli:
        type: query
        badQuery: sum(increase(answers_total{{verdict="bad"}}[$window]))
        totalQuery: sum(increase(answers_total[$window])) + sum(increase(retries_total[$window]))
      target: 99.95
      window: 7d
      minEvents: 20
      burnRate:
        windows:
          - {{long: 2h, short: 10m, factor: 10, severity: page}}
          - {{long: 1d, short: 2h, factor: 2, severity: ticket}}
"""

SUMMARIZE = """\
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: summarize
spec:
  model: gpt-4o-mini
"""


def rules_of(config: Path, environments: list[str]) -> AlertRules:
    result = validate(config, environments)
    assert result.ok, "\n".join(map(str, result.problems))
    return alert_rules(result.states[e] for e in environments)


def recording(rules: AlertRules) -> list[RecordingRule]:
    return [r for g in rules.groups for r in g.rules if isinstance(r, RecordingRule)]


def alerting(rules: AlertRules) -> list[AlertingRule]:
    return [r for g in rules.groups for r in g.rules if isinstance(r, AlertingRule)]


def test_the_shipped_rules(request: pytest.FixtureRequest) -> None:
    rules = rules_of(REPO, ["dev", "prod", "staging"])
    assert_golden(request, GOLDEN / "alert-rules.yaml", render_rules_yaml(rules))


def test_yaml_and_json_are_one_document() -> None:
    rules = rules_of(REPO, ["prod"])
    from_yaml = yaml.safe_load(render_rules_yaml(rules))
    assert from_yaml == json.loads(render_rules_json(rules)) == rules.document()
    [group] = from_yaml["groups"]
    assert (group["name"], group["interval"]) == ("controlplane/prod/chat-slo", "1m")


def test_every_alert_reads_what_its_own_group_records() -> None:
    """Each burn alert compares the ratio and the event count over exactly its pair's two
    windows, recorded in the same group (evaluated first, at the same time) for its objective."""
    rules = rules_of(REPO, ["prod", "staging"])
    for group in rules.groups:
        recorded = [r for r in group.rules if isinstance(r, RecordingRule)]
        burns = [r for r in group.rules if isinstance(r, AlertingRule) and r.alert == BURN_ALERT]
        assert len(burns) == 12  # 4 objectives x the preset's 3 pairs
        for alert in burns:
            read = RECORDED.findall(alert.expr)
            windows = (alert.labels["long_window"], alert.labels["short_window"])
            assert [name for name, _ in read] == [
                *(f"slo:sli_error:ratio_rate{w}" for w in windows),
                *(f"slo:sli_total:increase{w}" for w in windows),
            ]
            for name, selector in read:
                wanted = dict(pair.split("=") for pair in selector.split(","))
                assert wanted == {
                    k: f'"{alert.labels[k]}"' for k in ("environment", "policy", "objective")
                }
                assert any(
                    r.record == name
                    and all(f'"{r.labels[k]}"' == v for k, v in wanted.items())
                    and group.rules.index(r) < group.rules.index(alert)
                    for r in recorded
                ), f"{name}{{{selector}}} is not recorded before {alert.labels}"


class Asked:
    """A MetricSource that answers 1000 to everything and remembers the questions."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def scalar(self, query: str, at: datetime) -> float | None:
        self.queries.append(query)
        return 1000.0

    def by_label(self, query: str, at: datetime, label: str) -> dict[str, float]:
        raise AssertionError("not asked by SLO evaluators")

    def expect(self, routes: object) -> None:
        pass

    def minutes(
        self, query: str, first: datetime, last: datetime, labels: tuple[str, ...]
    ) -> MinuteValues:
        raise AssertionError("not asked by SLO evaluators")


def test_the_rules_ask_what_the_evaluators_ask() -> None:
    """A page from Prometheus and a failure in controlplane are the same question: every
    recorded ratio and count, and every guard's quantile and sample count, is a query the
    scheduler's evaluators send for that objective or guard."""
    state = validate(REPO, ["prod"]).states["prod"]
    [policy] = state.slo_policies
    rules = alert_rules([state])
    at = datetime(2026, 11, 1, tzinfo=UTC)
    for objective in policy.spec.objectives:
        asked = Asked()
        evaluate_objective(policy, objective, DIALECTS["gateway"], asked, "prod", "chat", at)
        mine = [r for r in recording(rules) if r.labels["objective"] == objective.name]
        assert len(mine) == 10  # 5 windows, a ratio and a count each
        for rule in mine:
            if rule.record.startswith("slo:sli_total:"):
                assert rule.expr in asked.queries
            else:
                bad, _, total = rule.expr.partition(" or vector(0)) / ")
                assert bad.removeprefix("(") in asked.queries
                assert total in asked.queries
    [guard] = policy.spec.guards
    asked = Asked()
    evaluate_guard(policy, guard, DIALECTS["gateway"], asked, "prod", "chat", at)
    count, quantile = asked.queries
    [alert] = [r for r in alerting(rules) if r.alert == GUARD_ALERT]
    assert alert.expr == f"{quantile} > 0.2\nand {count} >= 50"
    assert alert.for_ == guard.for_
    assert alert.labels == {
        "environment": "prod",
        "policy": "chat-slo",
        "guard": "ttft-p50",
        "route": "chat",
        "severity": "page",
    }


@pytest.mark.parametrize(
    ("dialect", "route_matcher", "ttft", "errors"),
    [
        ("vllm", 'model_name="chat"', "vllm:time_to_first_token_seconds", None),
        (
            "litellm",
            'requested_model="chat"',
            "litellm_llm_api_time_to_first_token_metric",
            'litellm_proxy_total_requests_metric_total{requested_model="chat",status_code!~"2..|4.."}',
        ),
        (
            "otel-genai",
            'gen_ai_request_model="chat"',
            "gen_ai_server_time_to_first_token_seconds",
            'gen_ai_server_request_duration_seconds_count{gen_ai_request_model="chat",error_type!=""}',
        ),
    ],
)
def test_each_dialect_names_its_own_metrics(
    config: Path, dialect: str, route_matcher: str, ttft: str, errors: str | None
) -> None:
    edit(config, "environments/prod/environment.yaml", "dialect: gateway", f"dialect: {dialect}")
    edit(config, "policies/slo-chat.yaml", "threshold: 200ms", "threshold: 250ms")  # a bound
    (config / "policies/canary-chat.yaml").unlink()  # vLLM counts no failed requests
    rules = rules_of(config, ["prod"])
    exprs = [r.expr for r in recording(rules)] + [
        r.expr for r in alerting(rules) if r.alert == GUARD_ALERT
    ]
    assert all(route_matcher in e and 'route="' not in e for e in exprs)
    ttft_ratio = next(r for r in recording(rules) if r.labels["objective"] == "ttft-p99")
    assert f'{ttft}_bucket{{{route_matcher},le="1.0"}}[300s]' in ttft_ratio.expr
    objectives = {r.labels["objective"] for r in recording(rules)}
    if errors is None:  # no failed-request label: the objective is left out, and said so
        assert objectives == {"ttft-p99", "tpot", "e2e-p99"}
        [omitted] = rules.omitted
        assert str(omitted) == (
            "SLOPolicy/chat-slo objective availability in environment 'prod': no rules (the "
            "vllm dialect has no error label)"
        )
    else:
        assert "availability" in objectives
        assert not rules.omitted
        availability = next(r for r in recording(rules) if r.labels["objective"] == "availability")
        assert errors in availability.expr


def test_a_policy_covers_the_routes_it_selects_in_the_environments_it_selects(
    config: Path,
) -> None:
    (config / "environments/prod/summarize.yaml").write_text(SUMMARIZE)
    (config / "policies/every-route.yaml").write_text(POLICY.format(name="every-route", routes=[]))
    rules = rules_of(config, ["prod", "staging"])
    assert [g.name for g in rules.groups] == [
        "controlplane/prod/chat-slo",
        "controlplane/prod/every-route",
        "controlplane/staging/chat-slo",
    ]
    routes = {
        (r.labels["environment"], r.labels["policy"], r.labels["route"]) for r in recording(rules)
    }
    assert routes == {
        ("prod", "chat-slo", "chat"),
        ("prod", "every-route", "chat"),
        ("prod", "every-route", "summarize"),
        ("staging", "chat-slo", "chat"),
    }
    assert rules.omitted == ()
    no_routes = replace(validate(config, ["prod"]).states["prod"], routes=())
    assert [str(o) for o in alert_rules([no_routes]).omitted] == [
        f"SLOPolicy/{p} in environment 'prod': no rules (it selects no route of the environment)"
        for p in ("chat-slo", "every-route")
    ]
    dev = rules_of(config, ["dev"])
    assert dev.groups == ()
    assert [str(o) for o in dev.omitted] == [
        "environment 'dev': no rules (no SLOPolicy selects it)"
    ]


def test_explicit_windows_severities_and_timing(config: Path) -> None:
    """Each window is recorded once per route however many pairs use it; each pair is an alert
    of its severity; failAfter 1 fires at the first failing evaluation (no `for`); the budget of
    99.95% is 0.0005; a raw-PromQL SLI gets its window and is bracketed where it must be."""
    (config / "policies/answers.yaml").write_text(POLICY.format(name="answers", routes="[chat]"))
    rules = rules_of(config, ["prod"])
    group = next(g for g in rules.groups if g.name == "controlplane/prod/answers")
    assert group.interval.total_seconds() == 30
    assert [r.record for r in group.rules if isinstance(r, RecordingRule)] == [
        "slo:sli_error:ratio_rate10m",
        "slo:sli_total:increase10m",
        "slo:sli_error:ratio_rate2h",
        "slo:sli_total:increase2h",
        "slo:sli_error:ratio_rate1d",
        "slo:sli_total:increase1d",
    ]
    ratio = group.rules[0]
    assert ratio.expr == (
        '(sum(increase(answers_total{verdict="bad"}[600s])) or vector(0)) / '
        "(sum(increase(answers_total[600s])) + sum(increase(retries_total[600s])))"
    )
    page, ticket = (r for r in group.rules if isinstance(r, AlertingRule))
    assert (page.labels["severity"], page.labels["long_window"]) == ("page", "2h")
    assert (ticket.labels["severity"], ticket.labels["short_window"]) == ("ticket", "2h")
    assert page.expr.splitlines() == [
        'slo:sli_error:ratio_rate2h{environment="prod",policy="answers",objective="answers"} '
        "/ 0.0005 > 10",
        'and slo:sli_error:ratio_rate10m{environment="prod",policy="answers",objective="answers"}'
        " / 0.0005 > 10",
        'and slo:sli_total:increase2h{environment="prod",policy="answers",objective="answers"} '
        ">= 20",
        'and slo:sli_total:increase10m{environment="prod",policy="answers",objective="answers"} '
        ">= 20",
    ]
    assert "spent in 16h48m" in page.annotations["description"]  # 7d / 10
    [document] = [g for g in rules.document()["groups"] if g["name"].endswith("/answers")]
    alerts = [r for r in document["rules"] if "alert" in r]
    assert all("for" not in a for a in alerts)
    shipped = next(r for r in alerting(rules) if r.labels["policy"] == "chat-slo")
    assert shipped.for_.total_seconds() == 120  # (failAfter 3 - 1) x 1m
