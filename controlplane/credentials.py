"""Resolve credential references (`env:VAR`, `file:PATH`) at run time, at the edge.

The config holds only the reference; the value is read when it is needed and never logged.
"""

from __future__ import annotations

import os
from pathlib import Path

from controlplane.errors import ConfigError


def resolve_secret(reference: str) -> str:
    """The credential a reference points at; ConfigError (without the value) when it cannot."""
    if reference.startswith("env:"):
        name = reference.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set (referenced as {reference})")
        return value
    if reference.startswith("file:"):
        path = Path(reference.removeprefix("file:"))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {path} (referenced as {reference}): {exc.strerror}"
            ) from exc
    raise ConfigError(f"{reference!r} is not a reference: expected env:VAR or file:PATH")
