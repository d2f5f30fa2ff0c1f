"""The text rendering of an apply: one line per change with its outcome, then a summary."""

from __future__ import annotations

from controlplane.plan import ApplyResult, Outcome


def render_apply(result: ApplyResult) -> str:
    lines = [
        f"  {r.outcome.value:>13}  {r.change.action.value:<6} {r.change.ref}"
        + (f": {r.error}" if r.error else "")
        for r in result.results
    ]
    counts = {o: sum(1 for r in result.results if r.outcome is o) for o in Outcome}
    summary = ", ".join(f"{n} {o.value}" for o, n in counts.items() if n) or "nothing to do"
    return "\n".join([f"Apply to {result.target}:", *lines, f"Apply: {summary}."]) + "\n"
