"""Every common provider token format, in every place a config can hold text, is an inline
secret: a located [secret] problem whose value is never echoed, so `plan` never prints it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from controlplane.render import render_validation_github, render_validation_text
from tests.support.config import validate

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
FORMATS = {
    "openai": "sk-proj-" + "Ab3x" * 12,
    "anthropic": "sk-ant-api03-" + "x1Y2" * 12,
    "hugging face": "hf_" + "aB3d" * 9,
    "groq": "gsk_" + "aB3d" * 11,
    "google ai": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "github classic": "ghp_" + "a1B2" * 9,
    "github fine-grained": "github_pat_11ABCDEFG0" + "a1B2c3D4e5" * 8,
    "gitlab": "glpat-" + "a1B2c3D4e5F6g7H8i9J0",
    "slack": "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
    "stripe": "sk_live_" + "a1B2c3D4" * 3,
    "npm": "npm_" + "a1B2c3D4e5F6" * 3,
    "aws access key": "AKIAIOSFODNN7EXAMPLE",
    "aws secret key, ini": f"aws_secret_access_key = {AWS_SECRET}",
    "aws secret key, env": f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
    "aws secret key, yaml": f"awsSecretKey: {AWS_SECRET}",
    "aws secret key, json": f'"aws_secret_access_key": "{AWS_SECRET}"',
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "private key": "-----BEGIN RSA PRIVATE KEY-----",
    "bearer": "Bearer abcdefghijklmnop1234",
}
ROUTE = """\
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: chat
  annotations:
    note: {annotation}
    runbook: |
      steps for on-call
      {multiline}
spec:
  model: chat-small  # {comment}
  rateLimits:
    requestsPerMinute: 60
"""
PLACEMENTS = {
    "annotation": ("note", 6),
    "multi-line string": ("multiline", 9),
    "comment": ("comment", 11),
    "base64 in an annotation": ("annotation-b64", 6),
}


def render(placement: str, secret: str) -> str:
    slots = {"annotation": "plain", "multiline": "plain", "comment": "plain"}
    quoted = "'" + secret.replace("'", "''") + "'"
    match placement:
        case "annotation":
            slots["annotation"] = quoted
        case "multi-line string":
            slots["multiline"] = secret
        case "comment":
            slots["comment"] = secret
        case _:
            slots["annotation"] = base64.b64encode(secret.encode()).decode()
    return ROUTE.format(**slots)


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_in_each_placement_is_found_and_never_echoed(
    config: Path, name: str, placement: str
) -> None:
    secret = FORMATS[name]
    (config / "environments/dev/routes.yaml").write_text(render(placement, secret))
    result = validate(config, ["dev"])
    problems = [p for p in result.problems if p.rule == "secret"]
    assert [p.line for p in problems] == [PLACEMENTS[placement][1]], result.problems
    assert "redacted" in problems[0].found
    if placement.startswith("base64"):
        assert "base64-encoded" in problems[0].found
    shown = render_validation_text(result, ["dev"]) + render_validation_github(result, ["dev"])
    assert secret not in shown
    assert secret.split()[-1][-12:] not in shown  # not even the tail of it
    assert "dev" not in result.states  # so no plan is made of it


def test_a_value_in_a_typed_field(config: Path) -> None:
    text = (config / "environments/dev/models.yaml").read_text()
    text = text.replace("baseModel: gpt-4o-mini", f"baseModel: {FORMATS['github fine-grained']}")
    (config / "environments/dev/models.yaml").write_text(text)
    [problem] = [p for p in validate(config, ["dev"]).problems if p.rule == "secret"]
    assert (problem.resource, problem.path) == ("Model/gpt-4o-mini", "spec.baseModel")
