"""Renderers of validation results: text for people, JSON for tools, annotations for GitHub.

Pure functions from a Validation to a string; the caller decides where it goes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from controlplane.errors import Problem
from controlplane.render.style import BOLD, GREEN, RED, paint
from controlplane.validate import Validation


def render_validation_text(
    result: Validation, environments: Sequence[str], color: bool = False
) -> str:
    """One compiler-style line per problem (file:line: ...), then a summary line."""
    lines = []
    for p in result.problems:
        where = paint(f"{p.file}:{p.line}:", BOLD, color)
        subject = " ".join(part for part in (p.resource, p.path) if part)
        subject = f" {subject}:" if subject else ""
        lines.append(f"{where} {paint('error', RED, color)}:{subject} {p.message} [{p.rule}]")
    if result.problems:
        files = len({p.file for p in result.problems})
        count = len(result.problems)
        lines.append(
            paint(
                f"✗ {count} problem{'s' * (count != 1)} in {files} file{'s' * (files != 1)}",
                RED,
                color,
            )
        )
    else:
        resources = sum(len(s.resources()) for s in result.states.values())
        lines.append(
            paint(
                f"✓ valid: {len(environments)} environment{'s' * (len(environments) != 1)} "
                f"({', '.join(environments) or 'none'}), {resources} resources",
                GREEN,
                color,
            )
        )
    return "\n".join(lines) + "\n"


def render_validation_json(result: Validation, environments: Sequence[str]) -> str:
    body = {
        "valid": result.ok,
        "environments": list(environments),
        "problems": [p.to_dict() for p in result.problems],
    }
    return json.dumps(body, indent=2) + "\n"


def render_validation_github(result: Validation, environments: Sequence[str]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on its line."""
    lines = [_annotation(p) for p in result.problems]
    lines.append(render_validation_text(result, environments).rstrip("\n").splitlines()[-1])
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
