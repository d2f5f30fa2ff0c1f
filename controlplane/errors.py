"""Errors and problems.

Problems are data: validation collects every one of them before it reports, the way a compiler
does. Exceptions are for conditions that stop a command, and form one tree, every class of it in
this module::

    ControlPlaneError
    ├── UsageError               bad arguments or service settings
    ├── ConfigError              the config cannot be read (bad path, revision or environment)
    │   ├── InvalidConfig        it was read and does not validate; carries the problems
    │   └── SecretUnavailable    a credential reference (env:/file:) cannot be resolved
    ├── RepoError                a git operation failed (clone, fetch, worktree, revert, push)
    ├── HistoryError             the history database cannot be opened, read or written
    ├── PlanError                a plan cannot be computed from the given states
    ├── TargetError              a driver failed talking to a target
    │   ├── TargetUnavailable    the target cannot be reached; retrying may help
    │   └── TargetConflict       the target changed under us (version mismatch); re-read, replan
    │       └── StaleLiveState   live changed between the plan and the apply; nothing applied
    ├── MetricsUnavailable       a metrics query failed; the result is unknown, never a failure
    ├── ForgeError               the forge refused or could not be reached
    ├── NotificationError        a notification receiver refused or could not be reached
    ├── ServiceUnavailable       a running `controlplane serve` cannot be reached or refused
    └── DemoError                a stage of `controlplane demo` did not happen in time

The CLI turns these into exit codes in one place (`controlplane.cli`), the service API into HTTP
statuses. Adapters re-raise their vendors' errors as one of these, `from` the original.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


class Rule(StrEnum):
    """Which check found a problem (the `[rule]` at the end of every line of the report)."""

    YAML = "yaml"
    SCHEMA = "schema"
    LAYOUT = "layout"
    UNIQUE = "unique"
    REFERENCE = "reference"
    WEIGHTS = "weights"
    CANARY = "canary"
    FALLBACKS = "fallbacks"
    CASCADE = "cascade"
    CAPACITY = "capacity"
    MEMORY_FIT = "memory-fit"
    PLACEMENT = "placement"
    GUARDRAIL = "guardrail"
    THRESHOLDS = "thresholds"
    POLICY = "policy"
    BUCKETS = "buckets"
    SECRET = "secret"
    TARGET = "target"  # a field the environment's target cannot express


# The most characters of each part of a problem: a 10 MB value must not become a 10 MB line.
PROBLEM_PART_LIMIT = 300
_LIMITS = {"file": 300, "path": 200, "found": 300, "expected": 600, "resource": 200}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clip(text: str, limit: int = PROBLEM_PART_LIMIT) -> str:
    """TEXT with control characters escaped (so it stays on its line), at most LIMIT characters;
    an ellipsis marks a cut."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the config, with where it is and what was expected there. Every text
    part is bounded and on one line, whatever the config held."""

    file: str
    line: int
    path: str
    found: str
    expected: str
    rule: Rule
    resource: str = ""

    def __post_init__(self) -> None:
        for name, limit in _LIMITS.items():
            object.__setattr__(self, name, clip(getattr(self, name), limit))

    @property
    def message(self) -> str:
        return f"found {self.found}; expected {self.expected}"

    def to_dict(self) -> dict[str, str | int]:
        return {**asdict(self), "rule": self.rule.value, "message": self.message}


class ControlPlaneError(Exception):
    """Base of every error controlplane raises on purpose."""


class UsageError(ControlPlaneError):
    """The command was asked for something it cannot do as asked (arguments, settings)."""


class ConfigError(ControlPlaneError):
    """The configuration cannot be read (path, revision, environment or repository problems)."""


class InvalidConfig(ConfigError):
    """The configuration was read and has problems; `report` is their rendering for people."""

    def __init__(self, problems: Sequence[Problem], report: str) -> None:
        super().__init__(report)
        self.problems = tuple(problems)
        self.report = report


class SecretUnavailable(ConfigError):
    """A credential reference cannot be resolved; the message never holds a value."""


class RepoError(ControlPlaneError):
    """A git operation on the config repository failed; nothing was pushed."""


class HistoryError(ControlPlaneError):
    """The history database cannot be opened, read or written."""


class PlanError(ControlPlaneError):
    """A plan cannot be computed."""


class TargetError(ControlPlaneError):
    """A target driver failed."""


class TargetUnavailable(TargetError):
    """The target could not be reached; the operation may be retried."""


class TargetConflict(TargetError):
    """The target's state changed since it was read."""


class StaleLiveState(TargetConflict):
    """The target's live state changed after the plan was made, so nothing was applied."""


class MetricsUnavailable(ControlPlaneError):
    """A metrics query failed (unreachable, timed out, or a bad answer): the result is unknown."""


class ForgeError(ControlPlaneError):
    """The forge refused or could not be reached; the message says which and why."""


class NotificationError(ControlPlaneError):
    """A notification was not delivered (the receiver refused it or could not be reached); the
    message never holds the receiver's credential. `tries`: how many sends were made."""

    def __init__(self, message: str, tries: int = 0) -> None:
        super().__init__(message)
        self.tries = tries


class ServiceUnavailable(ControlPlaneError):
    """A running controlplane service could not be reached, or refused the request."""


class DemoError(ControlPlaneError):
    """A stage of the demo did not happen in time; the message says which."""
