"""Three renderers of one Plan: terraform-style text, JSON, and Markdown for PR comments.

Pure functions from a Plan to a string. Text and Markdown read the same fields the JSON holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from controlplane.plan import Change, ChangeKind, FieldChange, Plan
from controlplane.render.style import GREEN, RED, YELLOW, paint
from controlplane.spec.state import MANAGED_BY, MANAGER

SYMBOL = {ChangeKind.CREATE: "+", ChangeKind.UPDATE: "~", ChangeKind.DELETE: "-"}
VERB = {
    ChangeKind.CREATE: "created",
    ChangeKind.UPDATE: "updated in place",
    ChangeKind.DELETE: "deleted",
}
_COLOR = {"+": GREEN, "~": YELLOW, "-": RED}


def render_plan_json(plan: Plan) -> str:
    body = plan.model_dump(mode="json")
    body["summary"] = {action.value: plan.count(action) for action in ChangeKind}
    return json.dumps(body, indent=2) + "\n"


def render_plan_text(plan: Plan, color: bool = False) -> str:
    lines = [f"Plan for environment {plan.environment}{_of_target(plan)}:", ""]
    if plan.empty:
        lines.append("No changes. The live state matches the desired state.")
    for change in plan.changes:
        symbol = SYMBOL[change.action]
        lines.append(f"  # {change.ref} will be {VERB[change.action]}")
        lines.append(paint(f"  {symbol} {change.ref}", _COLOR[symbol], color))
        for mark, text in _field_lines(change):
            lines.append(paint(f"      {mark} {text}", _COLOR[mark], color))
        lines.append("")
    for skip in plan.skipped:
        lines.append(f"  # {skip.kind}/{skip.name} is not in git and is kept: {skip.reason}")
    if plan.skipped:
        lines.append("")
    lines.append(_summary(plan))
    return "\n".join(lines) + "\n"


def render_plan_markdown(plan: Plan) -> str:
    heading = f"### controlplane plan: `{plan.environment}`{_of_target(plan, '`')}"
    lines = [heading, "", f"**{_summary(plan)}**", ""]
    if plan.changes:
        lines += ["| | resource | change |", "|---|---|---|"]
        for change in plan.changes:
            detail = (
                "<br>".join(
                    f"`{f.path}`: {_md_value(f, 'old')} → {_md_value(f, 'new')}"
                    for f in change.fields
                )
                or VERB[change.action]
            )
            lines.append(f"| {SYMBOL[change.action]} | `{change.ref}` | {detail} |")
        lines += ["", "<details><summary>Full plan</summary>", "", "```diff"]
        for change in plan.changes:
            symbol = SYMBOL[change.action]
            lines.append(f"{symbol} {change.ref}")
            lines += [
                f"{'!' if mark == '~' else mark}     {text}" for mark, text in _field_lines(change)
            ]
        lines += ["```", "", "</details>"]
    for skip in plan.skipped:
        lines.append(f"- `{skip.kind}/{skip.name}` is kept: {skip.reason}")
    return "\n".join(lines) + "\n"


def _of_target(plan: Plan, quote: str = "") -> str:
    return f", target {quote}{plan.target}{quote}" if plan.target else ""


def _summary(plan: Plan) -> str:
    c = plan.capacity
    counts = (
        f"{plan.count(ChangeKind.CREATE)} to create, {plan.count(ChangeKind.UPDATE)} to change, "
        f"{plan.count(ChangeKind.DELETE)} to delete"
    )
    return (
        f"Plan: {counts}. GPUs {c.gpus_before} → {c.gpus_after} ({c.gpu_delta:+d}), "
        f"$/month {c.usd_per_month_before:,.0f} → {c.usd_per_month_after:,.0f} "
        f"({_signed_money(c.usd_per_month_delta)})."
    )


def _signed_money(value: float) -> str:
    sign = "+" if value >= 0 else "-"
    return f"{sign}{abs(value):,.0f}"


def _field_lines(change: Change) -> Iterator[tuple[str, str]]:
    match change.action:
        case ChangeKind.CREATE:
            assert change.after is not None
            for path, value in _leaves(change.after["spec"], "spec"):
                yield "+", f"{path}: {_show(value)}"
        case ChangeKind.DELETE:
            return
        case ChangeKind.UPDATE:
            if not change.fields:
                yield "~", f"metadata.annotations.{MANAGED_BY}: (none) → {MANAGER} (adopt)"
            for f in change.fields:
                if not f.had_old:
                    yield "+", f"{f.path}: {_show(f.new)}"
                elif not f.has_new:
                    yield "-", f"{f.path}: {_show(f.old)}"
                else:
                    yield "~", f"{f.path}: {_show(f.old)} → {_show(f.new)}"


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from _leaves(sub, f"{path}.{key}")
    elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
        for i, sub in enumerate(value):
            yield from _leaves(sub, f"{path}[{i}]")
    else:
        yield path, value


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 10, as written in YAML, rather than 10.0
    return json.dumps(value, sort_keys=True)


def _md_value(f: FieldChange, side: str) -> str:
    present = f.had_old if side == "old" else f.has_new
    return f"`{_show(getattr(f, side))}`" if present else "_(none)_"
