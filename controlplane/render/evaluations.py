"""The text rendering of policy evaluations: one line per result, its evidence under it."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.policy import Evaluation, Outcome
from controlplane.render.style import GREEN, RED, YELLOW, paint

_OUTCOME_COLOR = {Outcome.PASS: GREEN, Outcome.FAIL: RED, Outcome.INCONCLUSIVE: YELLOW}


def render_evaluations(results: Sequence[Evaluation], color: bool = False) -> str:
    """One line per result, then its evidence indented under it."""
    lines = []
    for r in results:
        verdict = paint(f"{r.outcome.value.upper():<12}", _OUTCOME_COLOR[r.outcome], color)
        lines.append(
            f"{verdict} {r.kind}/{r.policy} {r.check} [{r.environment}/{r.route}]: {r.reason}"
        )
        for e in r.evidence:
            value = "no data" if e.value is None else f"{e.value:.6g}"
            limit = "" if e.threshold is None else f" (threshold {e.threshold:g})"
            samples = "" if e.samples is None else f", {e.samples:.0f} samples"
            note = f"; {e.note}" if e.note else ""
            lines.append(f"    {e.name}: {value}{limit} over {e.window or '-'}{samples}{note}")
    counts = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    lines.append(
        ", ".join(f"{n} {o.value}" for o, n in counts.items()) + f" at "
        f"{results[0].at.isoformat() if results else '-'}"
    )
    return "\n".join(lines) + "\n"
