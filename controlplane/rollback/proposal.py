"""A rollback proposal as a value, and its rendering as a pull request. Pure.

The body carries a hidden marker with the dedupe key (environment, policy, blamed commit) and
the commits it reverts, so open pull requests on the forge are the record of what is already
proposed: the service keeps no state the forge does not also hold.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

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


def commit_message(p: Proposal) -> str:
    action = "Revert" if p.strategy == "revert" else "Patch back"
    return (
        f'{action} "{p.subject or p.blame_sha[:12]}" in {p.environment}: {p.policy} failed\n\n'
        f"{p.evaluation.reason}\n\n"
        f"This reverts {', '.join(s[:12] for s in p.reverts)} ({p.strategy_note}).\n\n"
        f"Controlplane-Policy: {p.policy_kind}/{p.policy}\n"
        f"Controlplane-Check: {p.evaluation.check} on route {p.evaluation.route}\n"
        f"Controlplane-Evaluation: {p.evaluation.at.isoformat()}\n"
        f"Controlplane-Blamed-Commit: {p.blame_sha}\n"
    )


def title(p: Proposal) -> str:
    return f"Rollback {p.environment}: {p.policy} failed; revert {p.blame_sha[:12]} {p.subject}"[
        :250
    ].rstrip()


def _graph_link(prometheus: str, query: str) -> str:
    args = urlencode({"g0.expr": query, "g0.tab": "0", "g0.range_input": "1h"})
    return f"{prometheus.rstrip('/')}/graph?{args}"


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def body(p: Proposal) -> str:
    e = p.evaluation
    rows = [
        "| evidence | observed | threshold | window | samples | note |",
        "|---|---|---|---|---|---|",
    ]
    links = []
    for item in e.evidence:
        samples = "" if item.samples is None else f"{item.samples:.0f}"
        rows.append(
            f"| {item.name} | {_number(item.value)} | {_number(item.threshold)} | "
            f"{item.window or '-'} | {samples or '-'} | {item.note.replace('|', '/')} |"
        )
        query = item.signal or item.query
        if p.prometheus_url and query:
            links.append(f"- [{item.name}]({_graph_link(p.prometheus_url, query)})")
        elif query:
            links.append(f"- {item.name}: `{query}`")
    marker = json.dumps(
        {
            "environment": p.environment,
            "policy": p.policy,
            "commit": p.blame_sha,
            "reverts": list(p.reverts),
        },
        sort_keys=True,
    )
    lines = [
        f"**{p.policy_kind} `{p.policy}` failed in `{p.environment}`**: check `{e.check}` on "
        f"route `{e.route}`.",
        "",
        f"> {e.reason}",
        "",
        f"- Evaluated at: {e.at.isoformat()}",
        f"- Breach started: {p.breach.at.isoformat()} ({p.breach.how})",
        f"- Blamed commit: `{p.blame_sha}` by {p.blame_author}: {p.subject}",
        f"- Applied at: {p.blame_applied_at.isoformat()}",
        f"- Remediation: **{p.strategy}**, {p.strategy_note}",
        f"- Commits taken back: {', '.join(f'`{s[:12]}`' for s in p.reverts)}",
        "",
        "### Evidence",
        "",
        *rows,
        "",
        "### Queries",
        "",
        *(links or ["- (none)"]),
        "",
        "### What merging changes",
        "",
        p.plan_markdown.strip(),
        "",
        "Review and merge to roll back; the reconciler applies the merge. Closing this pull "
        "request keeps what is live. Opened by controlplane.",
        "",
        f"<!-- controlplane:rollback {marker} -->",
    ]
    return "\n".join(lines) + "\n"


def marker_of(text: str) -> dict[str, Any] | None:
    """The dedupe key a rollback body carries, or None for any other pull request."""
    found = MARKER.search(text or "")
    if found is None:
        return None
    try:
        value = json.loads(found.group(1))
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def render_file(p: Proposal) -> str:
    """The pull request as one Markdown file: what dry-run writes and prints."""
    return (
        f"# {title(p)}\n\n"
        f"- head: `{p.branch}` → base: `{p.base}`\n"
        f"- labels: {', '.join(p.labels)}\n\n"
        f"{body(p)}"
    )
