"""A bare mirror of the config repository, fetched with gitpython.

Readers take commits straight from the mirror's object database (`controlplane.repo.files` with
a revision), so there is no working tree to get out of step. A token for an HTTPS remote is
passed to git through the environment of the one command that needs it: never written into the
repository's config, never in a URL, never logged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import git

from controlplane.credentials import resolve_secret
from controlplane.errors import ConfigError
from controlplane.repo.errors import GIT_ERRORS, git_failure


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


def _commit(commit: git.Commit) -> Commit:
    return Commit(
        sha=commit.hexsha,
        author=f"{commit.author.name} <{commit.author.email}>",
        message=str(commit.message).strip(),
        committed_at=commit.committed_datetime,
    )


class GitMirror:
    def __init__(self, url: str, path: Path, branch: str, token_ref: str | None = None) -> None:
        self.url = url
        self.path = path
        self.branch = branch
        self._token_ref = token_ref
        self.lock = threading.Lock()  # one git process at a time on the mirror

    def git_env(self) -> dict[str, str]:
        """Variables that hand git the token for one command (empty without a token)."""
        if self._token_ref is None:
            return {}
        token = resolve_secret(self._token_ref)
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}",
            "GIT_TERMINAL_PROMPT": "0",
        }

    @property
    def ready(self) -> bool:
        """Whether the mirror has been cloned."""
        return (self.path / "HEAD").exists()

    def fetch(self) -> Commit:
        """Bring the branch up to date and return its head commit."""
        with self.lock:
            try:
                if not self.ready:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    git.Repo.clone_from(self.url, self.path, bare=True, env=self.git_env())
                repo = git.Repo(self.path)
                with repo.git.custom_environment(**self.git_env()):
                    repo.git.fetch(
                        "origin", f"+refs/heads/{self.branch}:refs/heads/{self.branch}", "--prune"
                    )
                return _commit(repo.commit(self.branch))
            except GIT_ERRORS as exc:
                raise git_failure(
                    f"cannot fetch branch {self.branch!r} of the config repository {self.url}", exc
                ) from exc

    def commit(self, rev: str) -> Commit:
        """A commit of the mirror by sha or name; ConfigError when there is none."""
        try:
            return _commit(git.Repo(self.path).commit(rev))
        except (git.BadName, ValueError) as exc:
            raise ConfigError(f"{rev}: no such commit in the repository") from exc
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot read commit {rev}", exc) from exc
