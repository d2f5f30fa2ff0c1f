"""Every value has a domain: odd but legal YAML, numbers that are not finite, durations and
integers too large, names that are not DNS labels and ports that do not exist are located
problems, and a huge value becomes a short, escaped line."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.render import render_validation_json, render_validation_text
from tests.support.config import edit, validate

ROUTES = "environments/dev/routes.yaml"
MODELS = "environments/dev/models.yaml"
ENVIRONMENT = "environments/dev/environment.yaml"


@pytest.mark.parametrize(
    ("file", "old", "new", "path", "expected"),
    [
        (MODELS, "inputPer1M: 0.02", "inputPer1M: .inf", "spec.pricing.inputPer1M", "at most"),
        (MODELS, "inputPer1M: 0.02", "inputPer1M: .nan", "spec.pricing.inputPer1M", "finite"),
        (
            ROUTES,
            "  model: chat-small\n",
            "  model: chat-small\n  timeout: 99999999999999999999d\n",
            "spec.timeout",
            "duration",
        ),
        (
            ROUTES,
            "  model: chat-small\n",
            "  model: chat-small\n  timeout: 30m1h\n",
            "spec.timeout",
            "units from the largest",
        ),
        (
            ROUTES,
            "requestsPerMinute: 60",
            "requestsPerMinute: 1" + "0" * 30,
            "spec.rateLimits.requestsPerMinute",
            "at most 1000000000",
        ),
        (ROUTES, "name: chat", "name: a..b", "metadata.name", "DNS label"),
        (ROUTES, "name: chat", "name: a.-b", "metadata.name", "DNS label"),
        (ROUTES, "name: chat", "name: Chat", "metadata.name", "DNS label"),
        (
            ENVIRONMENT,
            "http://127.0.0.1:4000",
            "http://127.0.0.1:70000",
            "spec.targets[0].url",
            "port 1 to 65535",
        ),
        (
            ENVIRONMENT,
            "http://127.0.0.1:4000",
            "http://127.0.0.1:0",
            "spec.targets[0].url",
            "port 1 to 65535",
        ),
    ],
)
def test_a_value_outside_its_domain_is_a_located_problem(
    config: Path, file: str, old: str, new: str, path: str, expected: str
) -> None:
    edit(config, file, old, new)
    result = validate(config, ["dev"])
    problems = [p for p in result.problems if p.path == path]
    assert problems, result.problems
    assert any(expected in p.expected for p in problems), problems
    assert all(p.file == file and p.line > 1 for p in problems)


def test_a_mapping_key_that_is_not_text_is_a_problem_not_a_crash(config: Path) -> None:
    text = (config / ROUTES).read_text()
    (config / ROUTES).write_text("1: one\nnull: two\n" + text.split("\n", 1)[1])
    result = validate(config, ["dev"])
    found = {p.found for p in result.problems}
    assert {"unknown field 1", "unknown field null"} <= found


def test_a_huge_value_is_a_short_escaped_line(config: Path) -> None:
    edit(config, ROUTES, "model: chat-small", "model: 'x\\x1b[31m" + "y" * 10_000_000 + "'")
    result = validate(config, ["dev"])
    report = render_validation_text(result, ["dev"])
    assert len(report) < 3000
    assert "\x1b" not in report  # a terminal escape is shown, not obeyed
    assert all(len(line) < 1000 for line in report.splitlines())
    assert len(render_validation_json(result, ["dev"])) < 5000


def test_a_canary_window_from_before_says_what_replaced_it(config: Path) -> None:
    # CanaryAnalysis once had a trailing `window`; evidence is now everything since the start.
    edit(config, "policies/canary-chat.yaml", "  interval: 1m\n", "  interval: 1m\n  window: 10m\n")
    result = validate(config, ["prod"])
    [problem] = [p for p in result.problems if p.path == "spec.window"]
    assert problem.file == "policies/canary-chat.yaml"
    assert problem.line > 1
    assert "every minute since it went live" in problem.expected
