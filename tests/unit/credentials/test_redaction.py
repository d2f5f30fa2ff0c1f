"""Every credential controlplane resolves is registered for redaction as it is resolved: a log
line that holds one (message, extra field or traceback) never shows it, in either log format.

Each kind is resolved through the code path that uses it: the gateway admin token (targets),
the Prometheus bearer token (metric source), the git token (mirror), the forge token (forge
client), the API token and webhook secret (service settings), and a model's API key."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controlplane import engine
from controlplane.credentials import (
    REDACTED,
    redact,
    register_secret,
    resolve_config_secret,
    resolve_secret,
)
from controlplane.errors import SecretUnavailable
from controlplane.logs import configure_logging
from controlplane.repo import GitMirror
from controlplane.service.settings import load_settings
from controlplane.spec import Environment
from controlplane.spec.environment import ForgeConfig
from tests.support.config import validate

# Values no detector recognises: only their registration can redact them.
VALUES = {
    "gateway": "gw-admin-7c1d2e",
    "prometheus": "prom-bearer-88af01",
    "git": "git-pat-5be7a9",
    "forge": "forge-pat-91c3d4",
    "api": "api-token-a4e6f2",
    "webhook": "webhook-hmac-3390bd",
    "model": "model-key-6f20c8",
}


def environment() -> Environment:
    return Environment.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Environment",
            "metadata": {"name": "dev"},
            "spec": {
                "targets": [
                    {"type": "gateway", "url": "http://127.0.0.1:1", "token": "env:T_GATEWAY"}
                ],
                "prometheus": {"url": "http://127.0.0.1:2", "bearerToken": "env:T_PROMETHEUS"},
            },
        }
    )


def resolve_gateway() -> None:
    engine.targets_for(environment())


def resolve_prometheus() -> None:
    assert engine.metric_source_for(environment()) is not None


def resolve_git(tmp_path: Path) -> None:
    GitMirror("https://example.invalid/c.git", tmp_path / "m", "main", "env:T_GIT").git_env()


def resolve_forge() -> None:
    engine.forge_for(
        ForgeConfig(
            type="github", url="https://api.github.com", repository="o/r", token="env:T_FORGE"
        )
    )


def resolve_service(tmp_path: Path) -> None:
    settings = load_settings(
        None, {"repo": ".", "workdir": tmp_path, "api_token": "env:T_API", "webhook_secret": None}
    )
    resolve_secret(settings.credential("api-token", settings.api_token)[0])
    (tmp_path / "webhook-secret").write_text(VALUES["webhook"])
    resolve_secret(settings.credential("webhook-secret", None)[0])


def resolve_model(config: Path) -> None:
    state = validate(config, ["dev"]).states["dev"]
    [external] = [m for m in state.models if m.spec.api_key is not None]
    assert external.spec.api_key is not None
    assert external.spec.endpoint is not None
    resolve_config_secret(external.spec.api_key, external.spec.endpoint)  # as the gateway does


@pytest.fixture
def resolved(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("gateway", "prometheus", "git", "forge", "api"):
        monkeypatch.setenv(f"T_{name.upper()}", VALUES[name])
    monkeypatch.setenv("OPENAI_API_KEY", VALUES["model"])
    bound = "env:T_FORGE@api.github.com env:OPENAI_API_KEY@api.openai.com"
    monkeypatch.setenv("CONTROLPLANE_CREDENTIAL_HOSTS", bound)
    steps: list[Callable[[], None]] = [
        resolve_gateway,
        resolve_prometheus,
        lambda: resolve_git(tmp_path),
        resolve_forge,
        lambda: resolve_service(tmp_path),
        lambda: resolve_model(config),
    ]
    for step in steps:
        step()


@pytest.fixture
def captured() -> Iterator[Callable[[bool], io.StringIO]]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level

    def capture(json_lines: bool) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(json_lines=json_lines)
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        return stream

    yield capture
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("kind", sorted(VALUES))
@pytest.mark.usefixtures("resolved")
def test_a_resolved_credential_never_reaches_a_log_line(
    kind: str, json_lines: bool, captured: Callable[[bool], io.StringIO]
) -> None:
    value = VALUES[kind]
    stream = captured(json_lines)
    log = logging.getLogger("controlplane.test")
    log.warning("calling with %s", value, extra={"environment": f"dev {value}"})
    try:
        raise RuntimeError(f"refused {value}")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert value not in text
    # the message and the traceback; in JSON, the extra field too
    assert text.count(REDACTED) == (3 if json_lines else 2)


def test_unresolvable_references_say_why_without_a_value(tmp_path: Path) -> None:
    with pytest.raises(SecretUnavailable, match="T_MISSING is not set"):
        resolve_secret("env:T_MISSING")
    with pytest.raises(SecretUnavailable, match="cannot read"):
        resolve_secret(f"file:{tmp_path / 'nope'}")
    with pytest.raises(SecretUnavailable, match="not a reference"):
        resolve_secret("hunter2")


def test_shapes_of_known_credentials_are_withheld_and_short_values_are_not_registered() -> None:
    assert redact("key sk-proj-" + "A1b2" * 10).startswith("[REDACTED")
    register_secret("abc")  # too short to redact without mangling ordinary words
    assert redact("abc def") == "abc def"
