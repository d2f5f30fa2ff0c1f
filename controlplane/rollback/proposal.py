"""A rollback proposal as a value, and the marker its pull request carries. Pure.

The body (rendered by `controlplane.render.pull_request`) carries a hidden marker with the
dedupe key (environment, policy, blamed commit) and the commits it reverts, so open pull requests
on the forge are the record of what is already proposed: the service keeps no state the forge
does not also hold.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from controlplane.policy.model import Evaluation
from controlplane.spec.base import FrozenValue

MARKER = re.compile(r"<!-- controlplane:rollback (\{.*?\}) -->")
LABEL = "rollback"


class BreachStart(FrozenValue):
    at: datetime
    how: str  # what the time was found from, for the reader


class Proposal(FrozenValue):
    """Everything a rollback pull request says."""

    environment: str
    policy: str
    policy_kind: str
    evaluation: Evaluation
    breach: BreachStart
    blame_sha: str
    blame_author: str
    blame_message: str
    blame_applied_at: datetime
    reverts: tuple[str, ...]  # the commits taken back, newest first
    strategy: str  # revert | patch
    strategy_note: str
    branch: str
    base: str
    plan_markdown: str
    prometheus_url: str = ""
    labels: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        """The first line of the blamed commit's message."""
        return self.blame_message.splitlines()[0] if self.blame_message else ""


def branch_name(environment: str, policy: str, sha: str) -> str:
    return f"rollback/{environment}/{policy}/{sha[:12]}"


def proposal_labels(environment: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    return (LABEL, f"env:{environment}", *extra)


def marker(p: Proposal) -> str:
    """The hidden line a rollback pull request's body ends with."""
    key = json.dumps(
        {
            "environment": p.environment,
            "policy": p.policy,
            "route": p.evaluation.route,
            "commit": p.blame_sha,
            "reverts": list(p.reverts),
        },
        sort_keys=True,
    )
    return f"<!-- controlplane:rollback {key} -->"


def marker_of(text: str) -> dict[str, Any] | None:
    """The dedupe key a rollback body carries, or None for any other pull request."""
    return read_marker(MARKER, text)


def read_marker(pattern: re.Pattern[str], text: str) -> dict[str, Any] | None:
    """The JSON object a body's hidden marker line holds, or None."""
    found = pattern.search(text or "")
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
