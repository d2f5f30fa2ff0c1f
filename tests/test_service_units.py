"""The service's parts that need no process: history queries, log redaction, settings."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controlplane.errors import ConfigError
from controlplane.service.api import verify_signature
from controlplane.service.history import History, Result
from controlplane.service.logs import RedactingFilter, redact, register_secret
from controlplane.service.settings import load_settings

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def route_change(name: str) -> list[dict[str, str]]:
    return [{"action": "update", "kind": "Route", "name": name, "target": "gateway"}]


def test_history_answers_attribution_questions(tmp_path: Path) -> None:
    history = History(f"sqlite:///{tmp_path / 'h.db'}")

    def attempt(sha: str, minute: int, result: Result, changes: list[dict[str, str]]) -> None:
        at = T0 + timedelta(minutes=minute)
        attempt_id = history.start("prod", sha, "a <a@e>", f"commit {sha}", "webhook", at)
        history.finish(attempt_id, result, at + timedelta(seconds=5), "", changes)

    attempt("aaa", 0, Result.APPLIED, route_change("chat"))
    attempt("bbb", 10, Result.APPLIED, route_change("search"))
    attempt("ccc", 20, Result.INVALID, [])
    attempt("ddd", 30, Result.APPLIED, route_change("chat"))

    assert history.live_at("prod", T0 + timedelta(minutes=15)).commit_sha == "bbb"  # type: ignore[union-attr]
    assert history.live_at("prod", T0 + timedelta(minutes=25)).commit_sha == "bbb"  # type: ignore[union-attr]
    assert history.live_at("prod", T0 - timedelta(minutes=1)) is None
    assert [a.commit_sha for a in history.changes_to("prod", "Route", "chat")] == ["ddd", "aaa"]
    assert history.last_success("prod").commit_sha == "ddd"  # type: ignore[union-attr]
    assert history.last("prod").started_at.tzinfo is not None  # type: ignore[union-attr]


def test_interrupted_attempts_are_closed_as_failed(tmp_path: Path) -> None:
    history = History(f"sqlite:///{tmp_path / 'h.db'}")
    history.start("prod", "aaa", "", "", "webhook", T0)
    assert history.close_running(T0 + timedelta(minutes=1), "interrupted") == 1
    last = history.last("prod")
    assert last is not None
    assert (last.result, last.error) == (Result.FAILED, "interrupted")


def test_logs_redact_registered_tokens_and_credential_shapes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    register_secret("super-secret-admin-token")
    assert "super-secret" not in redact("token is super-secret-admin-token")
    assert redact("key sk-proj-" + "A1b2" * 10).startswith("[REDACTED")
    record = logging.LogRecord(
        "x", logging.INFO, "f", 1, "using %s", ("super-secret-admin-token",), None
    )
    record.error = "auth failed for super-secret-admin-token"
    assert RedactingFilter().filter(record)
    assert "super-secret" not in record.getMessage()
    assert "super-secret" not in record.error


def test_webhook_signatures() -> None:
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert verify_signature("s", body, good)
    assert verify_signature("s", body, good.removeprefix("sha256="))  # Gitea sends the bare hex
    assert not verify_signature("s", body + b" ", good)
    assert not verify_signature("s", body, None)
    assert not verify_signature("t", body, good)


def test_settings_layers_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("repo: /srv/config\nbranch: release\npoll_interval: 30\nport: 9000\n")
    monkeypatch.setenv("CONTROLPLANE_POLL_INTERVAL", "15")
    settings = load_settings(config, {"port": 9100, "branch": None})
    assert (settings.repo, settings.branch, settings.poll_interval, settings.port) == (
        "/srv/config",
        "release",
        15,
        9100,
    )  # flags > env > file
    config.write_text("repo: /srv/config\napi_token: hunter2\n")
    with pytest.raises(ConfigError, match="api_token"):
        load_settings(config, {})
    with pytest.raises(ConfigError, match="no such settings file"):
        load_settings(tmp_path / "missing.yaml", {})


def test_generated_credentials_are_private(tmp_path: Path) -> None:
    settings = load_settings(None, {"repo": ".", "workdir": tmp_path / "wd"})
    reference, source = settings.credential("api-token", None)
    path = Path(reference.removeprefix("file:"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert "generated" in source
    assert settings.credential("api-token", None)[0] == reference  # stable across restarts
