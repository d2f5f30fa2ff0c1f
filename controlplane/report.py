"""Renderers of validation results: text for people, JSON for tools, annotations for GitHub.

Pure functions from a Validation to a string; the CLI decides where it goes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from controlplane.errors import Problem
from controlplane.policy.model import Evaluation, Outcome
from controlplane.validate import Validation

_RED = "\033[31m"
_GREEN = "\033[32m"
_BOLD = "\033[1m"
_RESET = "\033[0m"


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def render_text(result: Validation, environments: Sequence[str], color: bool = False) -> str:
    """One compiler-style line per problem (file:line: ...), then a summary line."""
    lines = []
    for p in result.problems:
        where = _paint(f"{p.file}:{p.line}:", _BOLD, color)
        subject = " ".join(part for part in (p.resource, p.path) if part)
        subject = f" {subject}:" if subject else ""
        lines.append(f"{where} {_paint('error', _RED, color)}:{subject} {p.message} [{p.rule}]")
    if result.problems:
        files = len({p.file for p in result.problems})
        count = len(result.problems)
        lines.append(
            _paint(
                f"✗ {count} problem{'s' * (count != 1)} in {files} file{'s' * (files != 1)}",
                _RED,
                color,
            )
        )
    else:
        resources = sum(len(s.resources()) for s in result.states.values())
        lines.append(
            _paint(
                f"✓ valid: {len(environments)} environment{'s' * (len(environments) != 1)} "
                f"({', '.join(environments) or 'none'}), {resources} resources",
                _GREEN,
                color,
            )
        )
    return "\n".join(lines) + "\n"


def render_json(result: Validation, environments: Sequence[str]) -> str:
    body = {
        "valid": result.ok,
        "environments": list(environments),
        "problems": [p.to_dict() for p in result.problems],
    }
    return json.dumps(body, indent=2) + "\n"


def render_github(result: Validation, environments: Sequence[str]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on its line."""
    lines = [_annotation(p) for p in result.problems]
    lines.append(render_text(result, environments).rstrip("\n").splitlines()[-1])
    return "\n".join(lines) + "\n"


def _annotation(p: Problem) -> str:
    subject = " ".join(part for part in (p.resource, p.path) if part)
    message = f"{subject}: {p.message}" if subject else p.message
    return (
        f"::error file={_property(p.file)},line={p.line},"
        f"title={_property('controlplane validate: ' + p.rule)}::{_data(message)}"
    )


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


_OUTCOME_COLOR = {Outcome.PASS: _GREEN, Outcome.FAIL: _RED, Outcome.INCONCLUSIVE: "\033[33m"}


def render_evaluations(results: Sequence[Evaluation], color: bool = False) -> str:
    """One line per result, then its evidence indented under it."""
    lines = []
    for r in results:
        verdict = _paint(f"{r.outcome.value.upper():<12}", _OUTCOME_COLOR[r.outcome], color)
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
