"""A rollback proposal rendered as a pull request: its title, its Markdown body with the evidence
and the plan, the commit message with its trailers, and the one-file form dry-run writes. Pure."""

from __future__ import annotations

from urllib.parse import urlencode

from controlplane.policy.model import Evaluation
from controlplane.rollback.proposal import Proposal, marker


def render_commit_message(p: Proposal) -> str:
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


def render_title(p: Proposal) -> str:
    return f"Rollback {p.environment}: {p.policy} failed; revert {p.blame_sha[:12]} {p.subject}"[
        :250
    ].rstrip()


def _graph_link(prometheus: str, query: str) -> str:
    args = urlencode({"g0.expr": query, "g0.tab": "0", "g0.range_input": "1h"})
    return f"{prometheus.rstrip('/')}/graph?{args}"


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def evidence_tables(evaluation: Evaluation, prometheus: str) -> tuple[list[str], list[str]]:
    """One evaluation's evidence as Markdown table rows, and its queries as links (to the graph
    of each query when the Prometheus URL is known)."""
    rows = [
        "| evidence | observed | threshold | window | samples | note |",
        "|---|---|---|---|---|---|",
    ]
    links = []
    for item in evaluation.evidence:
        samples = "" if item.samples is None else f"{item.samples:.0f}"
        rows.append(
            f"| {item.name} | {_number(item.value)} | {_number(item.threshold)} | "
            f"{item.window or '-'} | {samples or '-'} | {item.note.replace('|', '/')} |"
        )
        query = item.signal or item.query
        if prometheus and query:
            links.append(f"- [{item.name}]({_graph_link(prometheus, query)})")
        elif query:
            links.append(f"- {item.name}: `{query}`")
    return rows, links


def render_body(p: Proposal) -> str:
    e = p.evaluation
    rows, links = evidence_tables(e, p.prometheus_url)
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
        marker(p),
    ]
    return "\n".join(lines) + "\n"


def render_pull_request_file(p: Proposal) -> str:
    """The pull request as one Markdown file: what dry-run writes and prints."""
    return (
        f"# {render_title(p)}\n\n"
        f"- head: `{p.branch}` → base: `{p.base}`\n"
        f"- labels: {', '.join(p.labels)}\n\n"
        f"{render_body(p)}"
    )
