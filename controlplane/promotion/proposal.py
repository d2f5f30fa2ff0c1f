"""A promotion proposal as a value, and the marker its pull request carries. Pure.

Three things move a change forward through a pull request: a canary that passes at a step (to the
next step, or to be the route's model), an environment promotion rule (the change that went live
in one environment, applied to the next), and an experiment with a winner (the winner shipped).
Each carries its evidence, and a hidden marker with its dedupe key, so open pull requests on the
forge are the record of what is already proposed, as for rollbacks.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any

from controlplane.policy.model import Evaluation
from controlplane.rollback.proposal import read_marker
from controlplane.spec.base import FrozenValue

MARKER = re.compile(r"<!-- controlplane:promotion (\{.*?\}) -->")
LABEL = "promotion"
STALE_LABEL = "stale"


class PromotionKind(StrEnum):
    CANARY_STEP = "canary-step"
    ENVIRONMENT = "environment"
    EXPERIMENT = "experiment"


class PromotionProposal(FrozenValue):
    """Everything a promotion pull request says."""

    kind: PromotionKind
    environment: str  # whose files the pull request changes
    route: str  # the route it is about ("" when it spans routes)
    key: str  # what it promotes, for dedupe: the same key is never proposed twice at once
    title: str
    summary: tuple[str, ...]  # Markdown lines: what merging does and why now
    changes: tuple[str, ...]  # the edits, one line each
    evaluations: tuple[Evaluation, ...]  # the evidence it passed on
    branch: str
    base: str
    plan_markdown: str = ""
    prometheus_url: str = ""
    labels: tuple[str, ...] = ()
    auto_merge: bool = False
    source_environment: str = ""  # environment promotion: where the evidence comes from


def branch_name(kind: PromotionKind, environment: str, key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-")
    return f"promote/{environment}/{kind.value}/{safe}"[:200]


def promotion_labels(environment: str, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    return (LABEL, f"env:{environment}", *extra)


def marker(p: PromotionProposal) -> str:
    """The hidden line a promotion pull request's body ends with."""
    key = json.dumps(
        {"kind": p.kind.value, "environment": p.environment, "route": p.route, "key": p.key},
        sort_keys=True,
    )
    return f"<!-- controlplane:promotion {key} -->"


def marker_of(text: str) -> dict[str, Any] | None:
    """The dedupe key a promotion body carries, or None for any other pull request."""
    return read_marker(MARKER, text)
