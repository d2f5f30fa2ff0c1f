"""A promotion proposal rendered as a pull request: title, Markdown body with the evidence it
passed on and the plan, the commit message with its trailers, and the dry-run file. Pure."""

from __future__ import annotations

from controlplane.promotion.proposal import PromotionProposal, marker
from controlplane.render.pull_request import evidence_tables


def render_promotion_title(p: PromotionProposal) -> str:
    return p.title[:250].rstrip()


def render_promotion_commit_message(p: PromotionProposal) -> str:
    checks = "".join(
        f"Controlplane-Passed: {e.kind}/{e.policy} {e.check} on route {e.route or '(all)'} at "
        f"{e.at.isoformat()}\n"
        for e in p.evaluations
    )
    return (
        f"{p.title}\n\n"
        + "\n".join(f"- {line}" for line in p.changes)
        + f"\n\nControlplane-Promotion: {p.kind.value} {p.key}\n"
        + checks
    )


def render_promotion_body(p: PromotionProposal) -> str:
    lines = [*p.summary, "", "### What it changes", ""]
    lines += [f"- {change}" for change in p.changes]
    where = f" in `{p.source_environment}`" if p.source_environment else ""
    lines += [""]
    if p.evaluations:  # an experiment's evidence is its report, in the summary
        lines += [f"### Evidence{where}", ""]
    for e in p.evaluations:
        rows, links = evidence_tables(e, p.prometheus_url)
        lines += [
            f"**{e.kind} `{e.policy}`**, check `{e.check}` on route `{e.route or '(all)'}`: "
            f"**{e.outcome.value}** at {e.at.isoformat()}",
            "",
            f"> {e.reason}",
            "",
            *(rows if len(rows) > 2 else []),
            *([""] if len(rows) > 2 else []),
            *links,
            "",
        ]
    lines += [
        "### What merging changes",
        "",
        p.plan_markdown.strip() or "_(no plan)_",
        "",
        (
            "Auto-merge is on for this route: controlplane merges this pull request through the "
            "forge; the reconciler applies the merge."
            if p.auto_merge
            else "Review and merge to promote; the reconciler applies the merge. Closing this "
            "pull request keeps the current step. Opened by controlplane."
        ),
        "",
        marker(p),
    ]
    return "\n".join(lines) + "\n"


def render_promotion_file(p: PromotionProposal) -> str:
    """The pull request as one Markdown file: what dry-run writes."""
    return (
        f"# {render_promotion_title(p)}\n\n"
        f"- head: `{p.branch}` → base: `{p.base}`\n"
        f"- labels: {', '.join(p.labels)}\n\n"
        f"{render_promotion_body(p)}"
    )
