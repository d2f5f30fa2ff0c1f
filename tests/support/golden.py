"""Golden files: rendered output pinned in the repository, rewritten only on request
(`pytest --update-goldens`), so every change to what users read shows up in review."""

from __future__ import annotations

from pathlib import Path

import pytest


def assert_golden(request: pytest.FixtureRequest, path: Path, text: str) -> None:
    if request.config.getoption("--update-goldens"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run pytest --update-goldens and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} differs: run pytest --update-goldens and review the diff"
