"""Credentials: resolve `env:VAR` / `file:PATH` references at run time, and keep their values out
of every log line.

The config holds only the reference. Every value this module resolves is registered for
redaction before it is returned, so no caller can forget to: the log filter
(`controlplane.logs`) replaces registered values wherever they appear.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from controlplane.errors import SecretUnavailable
from controlplane.validate.secrets import secret_kind

REDACTED = "[REDACTED]"
# Shorter values would redact ordinary words; nothing we generate or accept is this short.
MIN_REDACTED_LENGTH = 6

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
        path = Path(reference.removeprefix("file:"))
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SecretUnavailable(
                f"cannot read {path} (referenced as {reference}): {why}"
            ) from exc
    else:
        raise SecretUnavailable(f"{reference!r} is not a reference: expected env:VAR or file:PATH")
    register_secret(value)
    return value


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
