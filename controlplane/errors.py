"""Errors and problems.

Problems are data: validation collects every one of them before it reports, the way a compiler
does. Exceptions are for conditions that stop a command, and form one tree::

    ControlPlaneError
    ├── ConfigError            the config cannot be read at all (bad path, bad revision, no repo)
    ├── PlanError              a plan cannot be computed from the given states
    └── TargetError            a driver failed talking to a target
        ├── TargetUnavailable  the target cannot be reached; retrying may help
        └── TargetConflict     the target changed under us (version mismatch); re-read and replan

The CLI turns these into exit codes in one place (`controlplane.cli`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the config, with where it is and what was expected there."""

    file: str
    line: int
    path: str
    found: str
    expected: str
    rule: str
    resource: str = ""

    @property
    def message(self) -> str:
        return f"found {self.found}; expected {self.expected}"

    def to_dict(self) -> dict[str, str | int]:
        return {**asdict(self), "message": self.message}


class ControlPlaneError(Exception):
    """Base of every error controlplane raises on purpose."""


class ConfigError(ControlPlaneError):
    """The configuration cannot be read (path, revision or repository problems)."""


class PlanError(ControlPlaneError):
    """A plan cannot be computed."""


class TargetError(ControlPlaneError):
    """A target driver failed."""


class TargetUnavailable(TargetError):
    """The target could not be reached; the operation may be retried."""


class TargetConflict(TargetError):
    """The target's state changed since it was read."""


class MetricsUnavailable(ControlPlaneError):
    """A metrics query failed (unreachable, timed out, or a bad answer): the result is unknown."""
