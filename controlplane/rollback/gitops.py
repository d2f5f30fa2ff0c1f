"""Git for rollbacks (gitpython): a throwaway worktree of the service's bare mirror, a revert or a
patch on top of the base branch, a commit, and a push of the rollback branch to origin.

The worktree lives in a temporary folder and is removed afterwards, whatever happens; the mirror
is never checked out. The push uses the mirror's credentials through the environment (never the
repository config, never a URL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import git

from controlplane.errors import ControlPlaneError
from controlplane.service.gitsync import GitMirror

IDENTITY = {
    "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "controlplane"),
    "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "controlplane@localhost"),
    "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "controlplane"),
    "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "controlplane@localhost"),
}


class RollbackGitError(ControlPlaneError):
    """A git step of a rollback failed; nothing was pushed."""


def _git_error(step: str, exc: Exception) -> RollbackGitError:
    stderr = str(getattr(exc, "stderr", "") or "").strip()
    last = stderr.splitlines()[-1] if stderr else str(exc)
    return RollbackGitError(f"{step}: {last}")


class RollbackGit:
    def __init__(self, mirror: GitMirror) -> None:
        self.mirror = mirror
        self.repo = git.Repo(mirror.path)

    def commits_applied(self, sha: str, previous: str | None) -> list[str]:
        """The commits an apply of `sha` brought live after `previous`, newest first, along the
        first-parent line (a merged pull request is its merge commit)."""
        if previous is None:
            return [sha]
        try:
            if not self.repo.is_ancestor(self.repo.commit(previous), self.repo.commit(sha)):
                return [sha]  # history was rewritten: take back the one commit
            listed = self.repo.git.rev_list("--first-parent", f"{previous}..{sha}")
        except (git.GitCommandError, ValueError, git.BadName) as exc:
            raise _git_error(f"cannot list the commits after {previous[:12]}", exc) from exc
        return listed.split() or [sha]

    def files(self, sha: str, folder: str) -> dict[str, str]:
        """The YAML files under `folder` at commit `sha`, by path."""
        try:
            tree = self.repo.commit(sha).tree / folder
        except (KeyError, ValueError, git.BadName):
            return {}
        return {
            str(blob.path): blob.data_stream.read().decode("utf-8", "replace")
            for blob in tree.traverse()
            if isinstance(blob, git.Blob) and str(blob.path).endswith((".yaml", ".yml"))
        }

    @contextmanager
    def worktree(self, base: str) -> Iterator[git.Repo]:
        """A detached worktree at `base`, removed on exit."""
        folder = Path(tempfile.mkdtemp(prefix="controlplane-rollback-"))
        path = folder / "work"
        with self.mirror.lock:
            try:
                self.repo.git.worktree("add", "--detach", str(path), base)
            except git.GitCommandError as exc:
                raise _git_error("cannot create a worktree", exc) from exc
        try:
            yield git.Repo(path)
        finally:
            with self.mirror.lock:
                with suppress(git.GitCommandError):
                    self.repo.git.worktree("remove", "--force", str(path))
                self.repo.git.worktree("prune")
            shutil.rmtree(folder, ignore_errors=True)

    def revert(self, work: git.Repo, shas: list[str]) -> str | None:
        """Revert `shas` (newest first) into the index; None when that worked, else what
        conflicted, with the worktree left clean."""
        with work.git.custom_environment(**IDENTITY):
            for sha in shas:
                mainline = ["-m", "1"] if len(work.commit(sha).parents) > 1 else []
                try:
                    work.git.revert("--no-commit", *mainline, sha)
                except git.GitCommandError as exc:
                    conflicted = work.git.diff("--name-only", "--diff-filter=U").split()
                    work.git.reset("--hard", "HEAD")
                    return ", ".join(conflicted) or str(exc.stderr or exc).strip()[-300:]
        return None

    def commit(self, work: git.Repo, message: str) -> str | None:
        """Commit everything in the worktree; None when there is nothing to commit."""
        work.git.add("--all")
        if not work.is_dirty(index=True, working_tree=False, untracked_files=False):
            return None
        with work.git.custom_environment(**IDENTITY):
            work.git.commit("--no-verify", "-m", message)
        return work.head.commit.hexsha

    def push(self, work: git.Repo, branch: str) -> None:
        """Push HEAD to origin as `branch` (forced: the rollback/ namespace is ours)."""
        remote = self.repo.remotes.origin.url
        try:
            with work.git.custom_environment(**self.mirror.git_env()):
                work.git.push(remote, f"+HEAD:refs/heads/{branch}")
        except git.GitCommandError as exc:
            raise _git_error(f"cannot push {branch}", exc) from exc
