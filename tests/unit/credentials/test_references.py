"""References written in the config reach only what the operator allows: files inside
CONTROLPLANE_SECRET_DIRS, destinations on this machine or bound by CONTROLPLANE_CREDENTIAL_HOSTS.
Validation refuses file references that climb, are relative, or point at pseudo-filesystems."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.credentials import resolve_config_secret, resolve_secret
from controlplane.errors import SecretUnavailable
from tests.support.config import edit, only, validate


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "token").write_text("tok-123456\n")
    (tmp_path / "elsewhere").write_text("not-yours-789\n")
    monkeypatch.delenv("CONTROLPLANE_SECRET_DIRS", raising=False)
    monkeypatch.delenv("CONTROLPLANE_CREDENTIAL_HOSTS", raising=False)
    return folder


def test_a_config_file_reference_reads_nothing_until_the_operator_names_a_folder(
    secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = f"file:{secrets / 'token'}"
    with pytest.raises(SecretUnavailable, match="CONTROLPLANE_SECRET_DIRS, and none is set"):
        resolve_config_secret(reference, "http://127.0.0.1:4000")
    monkeypatch.setenv("CONTROLPLANE_SECRET_DIRS", str(secrets))
    assert resolve_config_secret(reference, "http://127.0.0.1:4000") == "tok-123456"
    with pytest.raises(SecretUnavailable, match="outside the directories"):
        resolve_config_secret(f"file:{secrets.parent / 'elsewhere'}", "http://127.0.0.1:4000")
    (secrets / "escape").symlink_to(secrets.parent / "elsewhere")  # a link out is still out
    with pytest.raises(SecretUnavailable, match="outside the directories"):
        resolve_config_secret(f"file:{secrets / 'escape'}", "http://127.0.0.1:4000")


def test_a_credential_goes_only_to_this_machine_unless_bound_to_a_host(
    secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TOKEN", "tok-abcdef")
    for local in ("http://127.0.0.1:1/v1", "http://localhost:2", "http://[::1]:3"):
        assert resolve_config_secret("env:T_TOKEN", local) == "tok-abcdef"
    with pytest.raises(SecretUnavailable, match=r"may not be sent to 'evil\.example'"):
        resolve_config_secret("env:T_TOKEN", "https://evil.example/v1")
    monkeypatch.setenv("CONTROLPLANE_CREDENTIAL_HOSTS", "env:T_TOKEN@*.corp.example env:X@*")
    assert resolve_config_secret("env:T_TOKEN", "https://gw.corp.example") == "tok-abcdef"
    with pytest.raises(SecretUnavailable, match="may not be sent"):
        resolve_config_secret("env:T_TOKEN", "https://evil.example/v1")  # bound elsewhere


def test_a_file_that_is_not_a_small_regular_file_is_never_read(secrets: Path) -> None:
    with pytest.raises(SecretUnavailable, match="not a regular file"):
        resolve_secret("file:/dev/zero")
    big = secrets / "big"
    big.write_bytes(b"x" * 70_000)
    with pytest.raises(SecretUnavailable, match="more than 65536 bytes"):
        resolve_secret(f"file:{big}")
    (secrets / "binary").write_bytes(b"\xff\xfe")
    with pytest.raises(SecretUnavailable, match="not UTF-8"):
        resolve_secret(f"file:{secrets / 'binary'}")


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("file:../../etc/passwd", "absolute path without '.' or '..'"),
        ("file:/run/secrets/../../etc/shadow", "absolute path without '.' or '..'"),
        ("file:token.txt", "absolute path"),
        ("file:/proc/self/environ", "/proc, /dev or /sys"),
        ("file:/dev/zero", "/proc, /dev or /sys"),
    ],
)
def test_validation_refuses_file_references_that_point_anywhere(
    config: Path, reference: str, says: str
) -> None:
    edit(
        config, "environments/dev/models.yaml", "apiKey: env:OPENAI_API_KEY", f"apiKey: {reference}"
    )
    problem = only(validate(config, ["dev"]).problems, "schema")
    assert problem.path == "spec.apiKey"
    assert says in problem.expected
    assert problem.found == repr(reference)  # what the config says, never what a file holds
