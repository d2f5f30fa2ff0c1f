"""A bare mirror of the config repository, fetched with gitpython.

The reconciler reads commits straight from the mirror's object database (controlplane.load
with a revision), so there is no working tree to get out of step. A token for an HTTPS remote is
passed to git through the environment for the one command that needs it: never written into
the repository's config, never in a URL, never logged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import git

from controlplane.credentials import resolve_secret
from controlplane.errors import ControlPlaneError


class GitSyncError(ControlPlaneError):
    """The repository could not be cloned or fetched."""


def repo_url(repo: str) -> str:
    """A local path made absolute (git runs elsewhere); any other URL as given."""
    path = Path(repo)
    return str(path.resolve()) if path.exists() else repo


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    message: str
    committed_at: datetime


class GitMirror:
    def __init__(self, url: str, path: Path, branch: str, token_ref: str | None = None) -> None:
        self.url = url
        self.path = path
        self.branch = branch
        self._token_ref = token_ref
        self.lock = threading.Lock()  # one git process at a time on the mirror

    def git_env(self) -> dict[str, str]:
        if self._token_ref is None:
            return {}
        token = resolve_secret(self._token_ref)
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}",
            "GIT_TERMINAL_PROMPT": "0",
        }

    def fetch(self) -> Commit:
        """Bring the branch up to date and return its head commit."""
        with self.lock:
            try:
                if not (self.path / "HEAD").exists():
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    git.Repo.clone_from(self.url, self.path, bare=True, env=self.git_env())
                repo = git.Repo(self.path)
                with repo.git.custom_environment(**self.git_env()):
                    repo.git.fetch(
                        "origin", f"+refs/heads/{self.branch}:refs/heads/{self.branch}", "--prune"
                    )
                commit = repo.commit(self.branch)
            except (git.GitCommandError, git.BadName, ValueError) as exc:
                stderr = getattr(exc, "stderr", "") or str(exc)
                raise GitSyncError(
                    f"cannot fetch branch {self.branch!r} of the config repository: "
                    f"{stderr.strip().splitlines()[-1] if stderr.strip() else type(exc).__name__}"
                ) from exc
            return Commit(
                sha=commit.hexsha,
                author=f"{commit.author.name} <{commit.author.email}>",
                message=str(commit.message).strip(),
                committed_at=commit.committed_datetime,
            )
