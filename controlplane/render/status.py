"""The text rendering of environment status, as `controlplane status` prints it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def render_status(environments: Sequence[Mapping[str, Any]]) -> str:
    """One line per environment: name, sync state, live and head commits, first message line."""
    lines = []
    for env in environments:
        live = str(env.get("liveCommit") or "-")[:12]
        head = str(env.get("headCommit") or "-")[:12]
        message = str(env.get("message") or "")
        lines.append(
            f"{env.get('name', '?')!s:<12} {env.get('sync', 'unknown')!s:<12} live {live:<12} "
            f"head {head:<12} {message.splitlines()[0] if message else ''}".rstrip()
        )
    return "\n".join(lines) + "\n" if lines else ""
