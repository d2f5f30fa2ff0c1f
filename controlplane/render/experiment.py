"""An experiment's report: text (the terminal), Markdown (a pull request or an issue) and JSON
(tools and the API), three renderers of one ExperimentReport. Pure."""

from __future__ import annotations

import json

from controlplane.policy.experiment import (
    ArmMetric,
    Comparison,
    ExperimentReport,
    Finding,
    Verdict,
    confidence_level,
)
from controlplane.render.style import GREEN, RED, YELLOW, paint
from controlplane.spec.experiment import ExperimentMetric

_VERDICT_COLOR = {
    Verdict.WINNER: GREEN,
    Verdict.LOSER: RED,
    Verdict.NO_DIFFERENCE: YELLOW,
    Verdict.CONTINUE: YELLOW,
}


def render_experiment_json(report: ExperimentReport) -> str:
    """The report as JSON: what the API answers and tools read."""
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


def _value(metric: ExperimentMetric, mean: float | None) -> str:
    """An arm's mean in the unit people read it in."""
    if mean is None:
        return "-"
    match metric:
        case ExperimentMetric.TTFT | ExperimentMetric.E2E_LATENCY:
            return f"{mean * 1000:.0f} ms"
        case ExperimentMetric.ERROR_RATIO:
            return f"{mean * 100:.2f}%"
        case ExperimentMetric.THUMBS_UP:
            return f"{mean * 100:.1f}%"
        case ExperimentMetric.JUDGE_SCORE:
            return f"{mean:.3f}"
        case ExperimentMetric.COST_PER_1K:
            return f"${mean:.4f}"
    raise AssertionError(metric)


def _signed(value: float | None, metric: ExperimentMetric) -> str:
    if value is None:
        return "unbounded"
    return f"{value:+.1f}%" if metric.relative else f"{value:+.2f}"


def _effect(c: Comparison) -> str:
    unit = "" if c.metric.relative else " points"
    return "-" if c.effect is None else _signed(c.effect, c.metric) + unit


def _interval(c: Comparison) -> str:
    if c.effect is None:
        return "-"
    unit = "" if c.metric.relative else " points"
    return f"{_signed(c.lower, c.metric)} to {_signed(c.upper, c.metric)}{unit}"


def _finding(c: Comparison) -> str:
    worse = "+" if not c.metric.higher_is_better else "-"
    allowed = "" if c.tolerance is None else f"{worse}{c.tolerance:g}{c.metric.unit}"
    match c.finding:
        case Finding.BETTER:
            return "shown better"
        case Finding.WORSE:
            return f"shown worse than {allowed}" if allowed else "shown worse"
        case Finding.WITHIN:
            return f"shown within {allowed}"
        case Finding.NOT_SHOWN:
            return "not shown" + (f" (tolerance {allowed})" if allowed else "")
        case Finding.TOO_FEW:
            return "too few samples"
    raise AssertionError(c.finding)


def _arm_cell(m: ArmMetric) -> str:
    return f"{_value(m.metric, m.mean)} ({m.samples:,.0f})"


def _headline(report: ExperimentReport) -> str:
    verdict = report.verdict.value.upper().replace("-", " ")
    winner = f" {report.winner}" if report.winner else ""
    return (
        f"Experiment/{report.experiment} in {report.environment} (route {report.route}): "
        f"{verdict}{winner}"
    )


def _evidence(report: ExperimentReport) -> str:
    since = report.started.isoformat() if report.started else "an unknown start (the horizon)"
    ended = ", ended" if report.ended else ""
    return (
        f"{report.minutes} minutes since {since}, look {report.look} of {report.max_looks}"
        f"{ended}; alpha {report.alpha:g} over every look; at least "
        f"{report.min_samples_per_group:,} samples per variant before a metric is judged; "
        f"as of {report.at.isoformat()}"
    )


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def render_experiment_text(report: ExperimentReport, color: bool = False) -> str:
    """The headline verdict and its reasons, each arm's means, each treatment's comparisons
    with their confidence sequences, and the queries."""
    lines = [paint(_headline(report), _VERDICT_COLOR[report.verdict], color)]
    lines += [f"  {reason}" for reason in report.reasons]
    lines += ["", f"evidence: {_evidence(report)}", ""]
    if report.arms:
        metrics = [m.metric.value for m in report.arms[0].metrics]
        rows = [["variant", "role", "requests", *metrics]]
        rows += [
            [a.variant, a.role, f"{a.requests:,.0f}", *(_arm_cell(m) for m in a.metrics)]
            for a in report.arms
        ]
        lines += ["means (samples):", *_table(rows), ""]
    for t in report.treatments:
        control = report.arms[0].variant if report.arms else "control"
        lines.append(f"{t.variant} against {control}: {t.verdict.value.upper()}")
        rows = [["metric", "role", "effect", "confidence sequence", "level", "finding"]]
        rows += [
            [
                c.metric.value,
                c.role,
                _effect(c),
                _interval(c),
                confidence_level(c.alpha),
                _finding(c),
            ]
            for c in t.comparisons
        ]
        lines += [*_table(rows), ""]
    if report.queries:
        lines.append("queries (per-minute increments, summed per variant):")
        lines += [f"  {q.name}: {q.query}" for q in report.queries]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_experiment_markdown(report: ExperimentReport) -> str:
    """The same report for a pull request or an issue."""
    verdict = report.verdict.value.upper().replace("-", " ")
    winner = f" `{report.winner}`" if report.winner else ""
    lines = [
        f"### Experiment `{report.experiment}` in `{report.environment}` (route "
        f"`{report.route}`): **{verdict}**{winner}",
        "",
        *[f"- {reason}" for reason in report.reasons],
        "",
        f"Evidence: {_evidence(report)}.",
        "",
    ]
    if report.arms:
        metrics = [m.metric.value for m in report.arms[0].metrics]
        lines += [
            "| variant | role | requests | " + " | ".join(metrics) + " |",
            "|---|---|---:|" + "---:|" * len(metrics),
            *[
                f"| `{a.variant}` | {a.role} | {a.requests:,.0f} | "
                + " | ".join(_arm_cell(m) for m in a.metrics)
                + " |"
                for a in report.arms
            ],
            "",
        ]
    for t in report.treatments:
        lines += [
            f"**`{t.variant}`: {t.verdict.value.upper()}**",
            "",
            "| metric | role | effect | confidence sequence | level | finding |",
            "|---|---|---:|---|---:|---|",
            *[
                f"| {c.metric.value} | {c.role} | {_effect(c)} | {_interval(c)} | "
                f"{confidence_level(c.alpha)} | {_finding(c)} |"
                for c in t.comparisons
            ],
            "",
        ]
    if report.queries:
        lines += ["<details><summary>Queries</summary>", ""]
        lines += [f"- {q.name}: `{q.query}`" for q in report.queries]
        lines += ["", "</details>"]
    return "\n".join(lines).rstrip("\n") + "\n"
