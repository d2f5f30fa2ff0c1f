"""Shared fixtures, the folder-to-marker rule, and the golden-file flag.

Tests under tests/integration/ are marked `integration` (real processes: git, the gateway,
Prometheus, promtool); under tests/e2e/, `e2e` (a whole user story); under tests/unit/, they
are the fast set, which may start no process at all (enforced by a fixture there).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.config import REPO

TESTS = Path(__file__).resolve().parent
MARK_BY_FOLDER = {
    "integration": pytest.mark.integration,
    "e2e": pytest.mark.e2e,
    "serving": pytest.mark.serving,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite the golden files under tests/ from what the code renders now",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).resolve().relative_to(TESTS).parts[0]
        mark = MARK_BY_FOLDER.get(folder)
        if mark is not None:
            item.add_marker(mark)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A writable copy of environments/ and policies/ as shipped."""
    root = tmp_path / "config"
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, root / folder)
    return root
