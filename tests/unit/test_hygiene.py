"""Hygiene: a git failure is said in whole sentences, the gateway cleans the temporary files a
crash left mid-write, and a loop that survives a failure logs one line, not a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import git
import pytest

from controlplane.errors import RepoError
from controlplane.gateway.snapshot import Snapshot
from controlplane.gateway.state import load_snapshot, save_snapshot
from controlplane.logs import log_failure
from controlplane.repo.errors import git_failure

SSH_STDERR = """ssh: Could not resolve hostname forge.invalid: Name or service not known
fatal: Could not read from remote repository.

Please make sure you have the correct access rights
and the repository exists."""


def test_a_git_failure_keeps_the_reason_and_drops_the_advice() -> None:
    failed = git.GitCommandError(["git", "fetch"], 128, stderr=SSH_STDERR)
    message = str(git_failure("cannot fetch branch 'main'", failed))
    assert message == (
        "cannot fetch branch 'main': ssh: Could not resolve hostname forge.invalid: Name or "
        "service not known fatal: Could not read from remote repository."
    )
    long = git.GitCommandError(["git"], 1, stderr="fatal: " + "word " * 200)
    assert str(git_failure("x", long)).endswith(" …")


def test_the_gateway_removes_what_a_crash_left_mid_write(tmp_path: Path) -> None:
    state = tmp_path / "gateway.json"
    save_snapshot(Snapshot(), state)
    leftover = tmp_path / ".gateway.json.abc123.tmp"
    leftover.write_text("{half a fi")
    unrelated = tmp_path / "notes.tmp"
    unrelated.write_text("mine")
    assert load_snapshot(state).version == Snapshot().version
    assert not leftover.exists()
    assert unrelated.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.json", "notes.tmp"]


def test_a_surviving_loop_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("controlplane.test")
    with caplog.at_level(logging.ERROR):
        log_failure(log, "reconcile failed", RepoError("cannot fetch: fatal: gone"))
        log_failure(log, "reconcile failed", KeyError("boom"))
    first, second = caplog.records
    assert first.getMessage() == "reconcile failed: cannot fetch: fatal: gone"
    assert second.getMessage().startswith("reconcile failed: KeyError: 'boom' (a bug;")
    assert first.exc_info is None
    assert second.exc_info is None  # the traceback goes to DEBUG only
