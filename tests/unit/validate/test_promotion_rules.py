"""The Promotion kind: parsed from policies/, loaded into its source environment's desired state,
and every rule of it reported with file, line and field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from controlplane.errors import Problem
from controlplane.spec import KIND_BY_NAME, Promotion
from tests.support.config import validate

FILE = "policies/promote.yaml"
RULE = """\
apiVersion: controlplane.dev/v1alpha1
kind: Promotion
metadata:
  name: staging-to-prod
spec:
  from: staging
  to: prod
"""


SHIPPED = "policies/promote-staging-to-prod.yaml"


def write(root: Path, text: str, file: str = FILE) -> None:
    """Write a rule in place of the shipped one."""
    (root / SHIPPED).unlink(missing_ok=True)
    (root / file).write_text(text)


def line_of(root: Path, text: str, file: str = FILE) -> int:
    lines = (root / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def problems_of(root: Path) -> list[Problem]:
    return [p for p in validate(root).problems if p.file == FILE]


def test_the_shipped_rule_promotes_staging_to_prod_on_every_staging_policy(config: Path) -> None:
    result = validate(config)
    assert result.problems == ()
    [rule] = result.states["staging"].promotions
    assert (rule.name, rule.source, rule.target) == ("staging-to-prod", "staging", "prod")
    assert rule.spec.policies == []
    assert [p.name for p in result.states["staging"].policies()] == ["chat-slo", "chat-canary"]


def test_a_rule_is_loaded_into_its_source_environment_only(config: Path) -> None:
    write(config, RULE + "  after: 2h\n  policies: [chat-slo, chat-canary]\n  routes: [chat]\n")

    result = validate(config)

    assert result.problems == ()
    [rule] = result.states["staging"].promotions
    assert isinstance(rule, Promotion)
    assert (rule.source, rule.target, rule.spec.after) == ("staging", "prod", timedelta(hours=2))
    assert (rule.spec.policies, rule.spec.routes) == (["chat-slo", "chat-canary"], ["chat"])
    assert rule.spec.auto_merge is False
    assert result.states["prod"].promotions == ()
    assert result.states["dev"].promotions == ()
    assert rule in result.states["staging"].resources()
    policies = [p.name for p in result.states["staging"].policies()]
    assert rule.name not in policies  # not evaluated against Prometheus
    assert KIND_BY_NAME["Promotion"] is Promotion


def test_defaults_wait_an_hour_for_every_policy_and_never_merge_alone(config: Path) -> None:
    write(config, RULE)
    [rule] = validate(config).states["staging"].promotions
    assert rule.spec.after == timedelta(hours=1)
    assert (rule.spec.policies, rule.spec.routes, rule.spec.auto_merge) == ([], [], False)


def test_from_is_read_from_yaml_and_written_back_under_its_own_name() -> None:
    rule = Promotion.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Promotion",
            "metadata": {"name": "p"},
            "spec": {"from": "staging", "to": "prod", "autoMerge": True},
        }
    )
    assert rule.spec.from_ == "staging"
    assert rule.spec.auto_merge is True
    dumped = rule.model_dump(by_alias=True, mode="json")["spec"]
    assert (dumped["from"], dumped["after"], dumped["autoMerge"]) == ("staging", "1h", True)


@pytest.mark.parametrize(("field", "name"), [("from", "qa"), ("to", "production")])
def test_an_environment_without_a_folder_is_named_at_its_line(
    config: Path, field: str, name: str
) -> None:
    write(config, RULE.replace(f"  {field}: ", f"  {field}: {name}  # was: "))

    [problem] = problems_of(config)

    assert (problem.line, problem.path, problem.rule) == (
        line_of(config, f"{field}: {name}"),
        f"spec.{field}",
        "reference",
    )
    assert problem.resource == "Promotion/staging-to-prod"
    assert problem.found == f"environment {name!r}, which has no folder under environments/"
    assert problem.expected == "one of: dev, prod, staging"


def test_promoting_an_environment_to_itself_is_refused(config: Path) -> None:
    write(config, RULE.replace("to: prod", "to: staging"))
    [problem] = problems_of(config)
    assert (problem.line, problem.path, problem.rule) == (
        line_of(config, "to:"),
        "spec.to",
        "policy",
    )
    assert problem.found == "'staging', the environment it promotes from"


def test_a_cycle_of_rules_is_reported_on_each_rule_in_it(config: Path) -> None:
    write(
        config,
        RULE
        + RULE.replace("staging-to-prod", "dev-to-staging")
        .replace("from: staging", "from: dev")
        .replace("to: prod", "to: staging")
        .join(["---\n", ""])
        + RULE.replace("staging-to-prod", "prod-to-dev")
        .replace("from: staging", "from: prod")
        .replace("to: prod", "to: dev")
        .join(["---\n", ""]),
    )

    found = sorted((p.resource, p.line, p.found) for p in problems_of(config))

    lines = [
        i for i, line in enumerate((config / FILE).read_text().splitlines(), 1) if "to:" in line
    ]
    assert found == [
        ("Promotion/dev-to-staging", lines[1], "a cycle of promotions: dev → staging → prod → dev"),
        ("Promotion/prod-to-dev", lines[2], "a cycle of promotions: prod → dev → staging → prod"),
        (
            "Promotion/staging-to-prod",
            lines[0],
            "a cycle of promotions: staging → prod → dev → staging",
        ),
    ]
    assert {p.rule for p in problems_of(config)} == {"policy"}


def test_a_chain_without_a_cycle_is_fine(config: Path) -> None:
    dev_to_staging = (
        RULE.replace("staging-to-prod", "dev-to-staging")
        .replace("from: staging", "from: dev")
        .replace("to: prod", "to: staging")
    )
    write(config, RULE + "---\n" + dev_to_staging)
    result = validate(config)
    assert result.problems == ()
    assert [r.name for r in result.states["dev"].promotions] == ["dev-to-staging"]


def test_a_policy_that_does_not_exist_is_named_with_the_known_ones(config: Path) -> None:
    write(config, RULE + "  policies:\n    - chat-slo\n    - chat-latency\n")
    [problem] = problems_of(config)
    assert (problem.line, problem.path) == (line_of(config, "- chat-latency"), "spec.policies[1]")
    assert problem.found == "policy 'chat-latency', which policies/ does not hold"
    assert problem.expected == "one of its policies: chat-canary, chat-cost, chat-slo"


def test_a_policy_that_does_not_select_the_source_is_refused(config: Path) -> None:
    # chat-cost selects prod only: it says nothing about how the change does in staging
    write(config, RULE + "  policies: [chat-cost]\n")
    [problem] = problems_of(config)
    assert (problem.line, problem.path, problem.rule) == (
        line_of(config, "policies:"),
        "spec.policies[0]",
        "reference",
    )
    assert problem.found == "policy 'chat-cost', which does not select environment 'staging'"


def test_a_route_the_source_does_not_have_is_refused(config: Path) -> None:
    write(config, RULE + "  routes: [chat, search]\n")
    [problem] = problems_of(config)
    assert (problem.line, problem.path) == (line_of(config, "routes:"), "spec.routes[1]")
    assert (
        problem.found == "a reference to Route 'search', which environment 'staging' does not have"
    )


def test_a_policy_or_route_named_twice_is_refused(config: Path) -> None:
    write(config, RULE + "  policies: [chat-slo, chat-slo]\n  routes: [chat, chat]\n")
    assert sorted((p.path, p.rule) for p in problems_of(config)) == [
        ("spec.policies[1]", "unique"),
        ("spec.routes[1]", "unique"),
    ]


def test_a_misspelt_field_suggests_from(config: Path) -> None:
    write(config, RULE.replace("  from:", "  form:"))
    messages = {(p.path, p.expected) for p in problems_of(config)}
    assert any(path == "spec.form" and "did you mean 'from'?" in e for path, e in messages)


def test_a_rule_inside_an_environment_folder_is_a_layout_problem(config: Path) -> None:
    write(config, RULE, "environments/staging/promote.yaml")
    [problem] = [p for p in validate(config).problems if p.rule == "layout"]
    assert problem.file == "environments/staging/promote.yaml"
    assert problem.expected == "Promotion resources under policies/"


def test_a_broken_rule_keeps_every_environment_from_validating(config: Path) -> None:
    # as for any policy: what policies/ holds must be right before anything is applied
    write(config, RULE.replace("to: prod", "to: staging"))
    assert validate(config).states == {}
