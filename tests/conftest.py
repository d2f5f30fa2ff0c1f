"""Shared fixtures: a copy of the shipped example config to break in each test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from controlplane.errors import Problem
from controlplane.load import load_config
from controlplane.validate import Validation, validate_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A writable copy of environments/ and policies/ as shipped."""
    root = tmp_path / "config"
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def edit(root: Path, file: str, old: str, new: str, count: int = 1) -> None:
    """Replace text in a config file; fails loudly if the text is not there."""
    path = root / file
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not found {count} time(s) in {file}"
    path.write_text(text.replace(old, new, count))


def validate(root: Path, envs: list[str] | None = None) -> Validation:
    return validate_config(load_config(root), envs)


def only(problems: tuple[Problem, ...] | list[Problem], rule: str) -> Problem:
    """The single problem of a rule; fails listing everything found otherwise."""
    matching = [p for p in problems if p.rule == rule]
    assert len(matching) == 1, "\n".join(map(str, problems))
    return matching[0]


Editor = Callable[[Path], None]
