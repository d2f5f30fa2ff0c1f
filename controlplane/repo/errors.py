"""The one mapping of git's failures (gitpython's exceptions) to controlplane's errors."""

from __future__ import annotations

import git

from controlplane.errors import RepoError

# Everything gitpython raises for a failed command, a missing object or a broken repository.
GIT_ERRORS: tuple[type[Exception], ...] = (
    git.GitError,
    git.BadName,
    git.BadObject,
    ValueError,
    OSError,
)


def git_failure(step: str, exc: Exception) -> RepoError:
    """A RepoError that says which step failed and git's own last line about why."""
    stderr = str(getattr(exc, "stderr", "") or "").strip()
    # gitpython wraps stderr as "\n  stderr: 'fatal: ...'"; keep git's words only.
    last = stderr.splitlines()[-1].strip().removeprefix("stderr:").strip(" '") if stderr else ""
    return RepoError(f"{step}: {last or str(exc).strip() or type(exc).__name__}")
