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
# The lines of git's stderr that say what went wrong; the rest is advice and progress.
_REASONS = ("fatal:", "error:", "ssh:", "remote: error", "hint: ")
MAX_REASON = 400


def git_failure(step: str, exc: Exception) -> RepoError:
    """A RepoError that says which step failed and, in whole sentences, git's reason."""
    return RepoError(f"{step}: {git_reason(exc)}")


def git_reason(exc: Exception) -> str:
    stderr = str(getattr(exc, "stderr", "") or "")
    # gitpython wraps stderr as "\n  stderr: 'fatal: ...\n...'": keep git's own words only.
    stderr = stderr.strip().removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = [line for line in lines if line.lower().startswith(_REASONS)] or lines
    reason = " ".join(chosen) or str(exc).strip() or type(exc).__name__
    if len(reason) > MAX_REASON:  # cut at a sentence or word, and say so
        cut = reason[:MAX_REASON]
        reason = cut[: max(cut.rfind(". ") + 1, cut.rfind(" "))].rstrip() + " …"
    return reason
