"""The fast set starts no process: any attempt fails the test that makes it."""

from __future__ import annotations

import subprocess
from typing import Any, NoReturn

import pytest


@pytest.fixture(autouse=True)
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(
            f"a unit test started a process ({args[1] if len(args) > 1 else kwargs}); "
            "it belongs under tests/integration/"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
