"""The shipped example config, and helpers to break a copy of it in a test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from controlplane.engine.config import load  # (loads gitpython while tests are collected)
from controlplane.errors import Problem
from controlplane.validate import Validation, validate_config

REPO = Path(__file__).resolve().parent.parent.parent


def edit(root: Path, file: str, old: str, new: str, count: int = 1) -> None:
    """Replace text in a config file; fails loudly if the text is not there."""
    path = root / file
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not found {count} time(s) in {file}"
    path.write_text(text.replace(old, new, count))


def validate(root: Path, envs: list[str] | None = None) -> Validation:
    return validate_config(load(root), envs)


def only(problems: tuple[Problem, ...] | list[Problem], rule: str) -> Problem:
    """The single problem of a rule; fails listing everything found otherwise."""
    matching = [p for p in problems if p.rule == rule]
    assert len(matching) == 1, "\n".join(map(str, problems))
    return matching[0]


Editor = Callable[[Path], None]
