"""Credentials: resolve `env:VAR` / `file:PATH` references at run time, and keep their values out
of every log line.

The config holds only the reference. Every value this module resolves is registered for
redaction before it is returned, so no caller can forget to: the log filter
(`controlplane.logs`) replaces registered values wherever they appear.

A reference written in the config is a request by whoever wrote the config, so the operator
bounds what it may reach (`resolve_config_secret`):
- `file:` references read only inside the directories listed in CONTROLPLANE_SECRET_DIRS
  (none by default: a config can read no file until the operator names where secrets live);
- a credential is sent only to this machine (loopback) unless CONTROLPLANE_CREDENTIAL_HOSTS
  binds it to other hosts: space-separated `REFERENCE@HOST` entries, HOST a glob
  (`env:GITHUB_TOKEN@api.github.com env:OPENAI_API_KEY@api.openai.com file:/run/s/k@*.corp`).
  Otherwise a pull request that changed a URL could send a token anywhere.
References the operator gives (service settings, command flags) are trusted as they are.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import stat
import threading
from pathlib import Path
from urllib.parse import urlsplit

from controlplane.errors import SecretUnavailable
from controlplane.validate.secrets import secret_kind

REDACTED = "[REDACTED]"
# Shorter values would redact ordinary words; nothing we generate or accept is this short.
MIN_REDACTED_LENGTH = 6
MAX_SECRET_BYTES = 64 * 1024  # a credential file is small; /dev/zero-like files are not read
SECRET_DIRS_VARIABLE = "CONTROLPLANE_SECRET_DIRS"
CREDENTIAL_HOSTS_VARIABLE = "CONTROLPLANE_CREDENTIAL_HOSTS"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})

_known: set[str] = set()
_lock = threading.Lock()


def resolve_secret(reference: str) -> str:
    """The credential a reference points at, registered for redaction; SecretUnavailable
    (without the value) when it cannot be read."""
    if reference.startswith("env:"):
        name = reference.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise SecretUnavailable(
                f"environment variable {name} is not set (referenced as {reference})"
            )
    elif reference.startswith("file:"):
        value = _read_file(Path(reference.removeprefix("file:")), reference)
    else:
        raise SecretUnavailable(f"{reference!r} is not a reference: expected env:VAR or file:PATH")
    register_secret(value)
    return value


def resolve_config_secret(reference: str, url: str) -> str:
    """A credential named in the config, to be sent to URL: resolved only when the operator
    allows that file and that destination (see the module's docstring)."""
    if reference.startswith("file:"):
        _check_secret_dir(Path(reference.removeprefix("file:")), reference)
    _check_destination(reference, url)
    return resolve_secret(reference)


def resolve_received_secret(reference: str) -> str:
    """A credential named in the config that clients present to us (a consumer's API key): read
    only where the operator allows files, and sent nowhere."""
    if reference.startswith("file:"):
        _check_secret_dir(Path(reference.removeprefix("file:")), reference)
    return resolve_secret(reference)


def _read_file(path: Path, reference: str) -> str:
    try:
        with path.open("rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise SecretUnavailable(f"{reference} is not a regular file")
            data = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise SecretUnavailable(
            f"cannot read {path} (referenced as {reference}): {exc.strerror}"
        ) from exc
    if len(data) > MAX_SECRET_BYTES:
        raise SecretUnavailable(f"{reference} holds more than {MAX_SECRET_BYTES} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise SecretUnavailable(f"{reference} is not UTF-8 text") from exc


def secret_dirs() -> list[Path]:
    """The directories config `file:` references may read, as the operator set them."""
    listed = os.environ.get(SECRET_DIRS_VARIABLE, "")
    return [Path(d).resolve() for d in listed.split(os.pathsep) if d.strip()]


def _check_secret_dir(path: Path, reference: str) -> None:
    allowed = secret_dirs()
    if not allowed:
        raise SecretUnavailable(
            f"{reference}: the config may read files only inside the directories listed in "
            f"{SECRET_DIRS_VARIABLE}, and none is set"
        )
    real = path.resolve()
    if not any(real.is_relative_to(directory) for directory in allowed):
        raise SecretUnavailable(
            f"{reference}: outside the directories listed in {SECRET_DIRS_VARIABLE}"
        )


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def credential_hosts() -> list[tuple[str, str]]:
    """(reference, host glob) pairs the operator bound, from CONTROLPLANE_CREDENTIAL_HOSTS."""
    pairs = []
    for entry in os.environ.get(CREDENTIAL_HOSTS_VARIABLE, "").split():
        reference, at, host = entry.rpartition("@")
        if at and reference and host:
            pairs.append((reference, host.lower()))
    return pairs


def _check_destination(reference: str, url: str) -> None:
    host = (urlsplit(url).hostname or "").lower()
    if is_loopback(host):
        return
    for bound, pattern in credential_hosts():
        if fnmatch.fnmatchcase(reference, bound) and fnmatch.fnmatchcase(host, pattern):
            return
    raise SecretUnavailable(
        f"{reference} may not be sent to {host or url!r}: a credential named in the config goes "
        f"only to this machine unless {CREDENTIAL_HOSTS_VARIABLE} binds it to that host "
        f"(e.g. {reference}@{host or 'HOST'})"
    )


def register_secret(value: str) -> None:
    """Never print this value: every log line has it replaced."""
    if len(value) >= MIN_REDACTED_LENGTH:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """TEXT with every registered value replaced, or wholly withheld when it looks like it holds
    a credential of a known format."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)  # a longer value may contain a shorter one
    for value in known:
        text = text.replace(value, REDACTED)
    if secret_kind(text) is not None:
        return "[REDACTED: the message looked like it held a credential]"
    return text
