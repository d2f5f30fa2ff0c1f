"""Service settings: flags over CONTROLPLANE_* variables over a YAML file, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import UsageError
from controlplane.service.settings import load_settings


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
    with pytest.raises(UsageError, match="api_token"):
        load_settings(config, {})
    with pytest.raises(UsageError, match="no such settings file"):
        load_settings(tmp_path / "missing.yaml", {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repo: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "a mapping"),
        ("repo: /srv\nport: many\n", "port"),
        ("\xff\xfe", "UTF-8"),
    ],
)
def test_a_broken_settings_file_is_a_usage_error(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "serve.yaml"
    config.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError, match=expected):
        load_settings(config, {})


def test_generated_credentials_are_private(tmp_path: Path) -> None:
    settings = load_settings(None, {"repo": ".", "workdir": tmp_path / "wd"})
    reference, source = settings.credential("api-token", None)
    path = Path(reference.removeprefix("file:"))
    assert path.stat().st_mode & 0o777 == 0o600
    assert "generated" in source
    assert settings.credential("api-token", None)[0] == reference  # stable across restarts
