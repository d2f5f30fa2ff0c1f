"""The Experiment kind: loaded into the desired state of the environments it selects, and
checked against their routes, with file and line in every problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.spec import KIND_BY_NAME, Experiment
from controlplane.spec.experiment import ExperimentMetric
from tests.support.config import edit, only, validate

EXPERIMENT = "policies/experiment-chat.yaml"
VARIANTS = """  model: chat-small
  variants:
    - {name: control, model: chat-small, weight: 50}
    - {name: prompt-v2, model: chat-small-v2, weight: 50}
"""
MODEL = """---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata:
  name: chat-small-v2
spec:
  baseModel: meta-llama/Llama-3.1-8B-Instruct
  framework: openai-compatible
  endpoint: http://127.0.0.1:8102/v1
"""
SPEC = """# yaml-language-server: $schema=../schemas/experiment.json
apiVersion: controlplane.dev/v1alpha1
kind: Experiment
metadata:
  name: chat-prompt
spec:
  selector:
    environments: [dev]
  route: chat
  variants: [control, prompt-v2]
  primary: thumbs-up
  guardrails:
    - {metric: ttft, tolerance: 10}
    - {metric: error-ratio, tolerance: 0.5}
"""


@pytest.fixture
def experiment_config(config: Path) -> Path:
    """The shipped config, dev's chat route split into two variants, and an experiment on it."""
    edit(config, "environments/dev/routes.yaml", "  model: chat-small\n", VARIANTS)
    with (config / "environments/dev/models.yaml").open("a") as models:
        models.write(MODEL)
    (config / EXPERIMENT).write_text(SPEC)
    return config


def line_of(root: Path, file: str, text: str) -> int:
    lines = (root / file).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_an_experiment_is_a_policy_kind_loaded_where_it_runs(experiment_config: Path) -> None:
    assert KIND_BY_NAME["Experiment"] is Experiment
    assert Experiment.SCOPE == "policy"
    result = validate(experiment_config)
    assert result.problems == ()
    (found,) = result.states["dev"].experiments
    assert found.spec.control == "control"
    assert found.spec.treatments == ["prompt-v2"]
    assert found.spec.primary is ExperimentMetric.THUMBS_UP
    assert found.spec.min_samples_per_group == 1000
    assert found.spec.alpha == 0.05
    assert result.states["prod"].experiments == ()  # not selected
    policies = {p.name for p in result.states["dev"].policies()}
    assert "chat-prompt" not in policies  # reported on, not scheduled


def test_a_variant_the_route_does_not_have_names_file_and_line(experiment_config: Path) -> None:
    edit(experiment_config, EXPERIMENT, "[control, prompt-v2]", "[control, prompt-v3]")
    p = only(validate(experiment_config).problems, "reference")
    assert (p.file, p.line) == (EXPERIMENT, line_of(experiment_config, EXPERIMENT, "prompt-v3"))
    assert (p.resource, p.path) == ("Experiment/chat-prompt", "spec.variants[1]")
    assert p.found == "variant 'prompt-v3', which route 'chat' does not have in environment 'dev'"
    assert p.expected == "one of the route's spec.variants: control, prompt-v2"


def test_a_route_missing_from_a_selected_environment(experiment_config: Path) -> None:
    edit(experiment_config, EXPERIMENT, "environments: [dev]", "environments: [dev, prod]")
    p = only(validate(experiment_config).problems, "reference")
    assert (p.file, p.line) == (EXPERIMENT, line_of(experiment_config, EXPERIMENT, "route: chat"))
    assert p.path == "spec.route"
    assert p.found == "route 'chat', which has no variants in environment 'prod'"
    edit(experiment_config, EXPERIMENT, "route: chat", "route: talk")
    problems = validate(experiment_config).problems
    missing = [p for p in problems if p.path == "spec.route"]
    assert {p.found for p in missing} == {
        "a reference to Route 'talk', which environment 'dev' does not have",
        "a reference to Route 'talk', which environment 'prod' does not have",
    }
    assert {p.line for p in missing} == {line_of(experiment_config, EXPERIMENT, "route: talk")}


def test_at_least_two_variants_each_once_and_each_metric_once(experiment_config: Path) -> None:
    edit(experiment_config, EXPERIMENT, "[control, prompt-v2]", "[control]")
    p = only(validate(experiment_config).problems, "schema")
    assert (p.path, p.line) == (
        "spec.variants",
        line_of(experiment_config, EXPERIMENT, "[control]"),
    )
    edit(experiment_config, EXPERIMENT, "[control]", "[control, control]")
    p = only(validate(experiment_config).problems, "unique")
    assert (p.path, p.found) == ("spec.variants[1]", "variant 'control' listed twice")
    edit(experiment_config, EXPERIMENT, "[control, control]", "[control, prompt-v2]")
    edit(experiment_config, EXPERIMENT, "{metric: error-ratio", "{metric: thumbs-up")
    p = only(validate(experiment_config).problems, "policy")
    assert p.path == "spec.guardrails[1].metric"
    assert p.line == line_of(experiment_config, EXPERIMENT, "{metric: thumbs-up")
    assert p.found == "thumbs-up, already the primary metric or another guardrail"


def test_a_metric_outside_the_list_and_an_experiment_under_an_environment(
    experiment_config: Path,
) -> None:
    edit(experiment_config, EXPERIMENT, "primary: thumbs-up", "primary: vibes")
    p = only(validate(experiment_config).problems, "schema")
    assert (p.path, p.line) == ("spec.primary", line_of(experiment_config, EXPERIMENT, "vibes"))
    assert "judge-score" in p.expected
    moved = experiment_config / "environments/dev/experiment.yaml"
    (experiment_config / EXPERIMENT).rename(moved)
    edit(experiment_config, "environments/dev/experiment.yaml", "primary: vibes", "primary: ttft")
    p = only(validate(experiment_config).problems, "layout")
    assert (p.file, p.path) == ("environments/dev/experiment.yaml", "kind")
    assert "policies/" in p.expected


def test_an_environment_whose_metrics_have_no_variant_label(experiment_config: Path) -> None:
    edit(
        experiment_config,
        "environments/dev/environment.yaml",
        "    url: http://127.0.0.1:9090\n",
        "    url: http://127.0.0.1:9090\n    dialect: vllm\n",
    )
    p = only(validate(experiment_config).problems, "policy")
    assert p.path == "spec.route"
    assert "whose vllm metrics have no variant label" in p.found
