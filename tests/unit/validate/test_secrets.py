"""Inline credentials are rejected wherever they are written, and never echoed back."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.validate.secrets import secret_kind
from tests.support.config import edit, only, validate

OPENAI_KEY = "sk-proj-" + "Ab3" * 15
GITHUB_TOKEN = "ghp_" + "a1B2" * 9


@pytest.mark.parametrize(
    "value",
    [
        OPENAI_KEY,
        "sk-ant-api03-" + "x" * 40,
        "hf_" + "a" * 34,
        GITHUB_TOKEN,
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
        "Bearer abcdefghijklmnop1234",
        "-----BEGIN RSA PRIVATE KEY-----",
    ],
)
def test_known_token_formats_are_detected(value: str) -> None:
    assert secret_kind(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "meta-llama/Llama-3.1-70B-Instruct",
        "https://api.openai.com/v1",
        "s3://models/chat-lora-v1/",
        "env:OPENAI_API_KEY",
        "nvidia-h100-80gb",
        'sum(rate(gateway_requests_total{route="chat"}[5m]))',
    ],
)
def test_ordinary_config_values_are_not_secrets(value: str) -> None:
    assert secret_kind(value) is None


def test_inline_api_key_in_a_typed_field(config: Path) -> None:
    edit(
        config,
        "environments/prod/models.yaml",
        "apiKey: env:OPENAI_API_KEY",
        f"apiKey: {OPENAI_KEY}",
    )
    result = validate(config)
    p = only(result.problems, "secret")
    assert len(result.problems) == 1  # not reported a second time as a bad reference
    assert (p.resource, p.path) == ("Model/gpt-4o-mini", "spec.apiKey")
    assert "redacted" in p.found
    assert "env:VAR" in p.expected
    assert OPENAI_KEY not in str(p)


def test_any_value_under_a_credential_key(config: Path) -> None:
    edit(
        config,
        "environments/prod/environment.yaml",
        "  name: prod\n",
        "  name: prod\n  annotations:\n    api_key: hunter2hunter2\n",
    )
    p = only(validate(config).problems, "secret")
    assert p.path == "metadata.annotations.api_key"
    assert "hunter2" not in str(p)


def test_a_token_in_a_comment_is_found_too(config: Path) -> None:
    edit(
        config,
        "environments/prod/routes.yaml",
        "  timeout: 30s\n",
        f"  timeout: 30s   # old token {GITHUB_TOKEN}\n",
    )
    p = only(validate(config).problems, "secret")
    assert p.file == "environments/prod/routes.yaml"
    assert "GitHub Token" in p.found


def test_credentials_in_a_url(config: Path) -> None:
    edit(
        config,
        "environments/prod/models.yaml",
        "https://api.openai.com/v1",
        "https://user:s3cretpass@api.openai.com/v1",
    )
    problems = validate(config).problems
    assert any(p.rule == "secret" and p.path == "spec.endpoint" for p in problems)
    assert all("s3cretpass" not in str(p) for p in problems)


def test_inline_value_in_a_reference_field_is_redacted_in_schema_errors(config: Path) -> None:
    edit(
        config, "environments/prod/environment.yaml", "token: env:GITHUB_TOKEN", "token: plainvalue"
    )
    p = only(validate(config).problems, "secret")
    assert p.path == "spec.forge.token"
    assert "plainvalue" not in str(p)
