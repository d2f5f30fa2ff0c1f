"""Git for rollbacks (gitpython): a throwaway worktree of the service's bare mirror, a revert or a
written file on top of the base branch, a commit, and a push of the rollback branch to origin.

The worktree lives in a temporary folder and is removed afterwards, whatever happens; the mirror
is never checked out. The push uses the mirror's credentials through the environment (never the
repository config, never a URL). Nothing from gitpython leaves this module: failures are
RepoError, and callers see a `Worktree`, not a git object.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import git

from controlplane.repo.errors import GIT_ERRORS, git_failure
from controlplane.repo.mirror import GitMirror


def committer() -> dict[str, str]:
    """Who commits rollbacks: controlplane, unless the process's GIT_* variables say otherwise."""
    return {
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "controlplane"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "controlplane@localhost"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "controlplane"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "controlplane@localhost"),
    }


class Worktree:
    """A detached checkout of one commit, to change, commit and push."""

    def __init__(self, repo: git.Repo, mirror: GitMirror) -> None:
        self._repo = repo
        self._mirror = mirror
        self.path = Path(str(repo.working_dir))

    def revert(self, shas: list[str]) -> str | None:
        """Revert `shas` (newest first) into the index; None when that worked, else what
        conflicted, with the worktree left clean."""
        with self._repo.git.custom_environment(**committer()):
            for sha in shas:
                try:
                    mainline = ["-m", "1"] if len(self._repo.commit(sha).parents) > 1 else []
                    self._repo.git.revert("--no-commit", *mainline, sha)
                except git.GitCommandError as exc:
                    conflicted = self._repo.git.diff("--name-only", "--diff-filter=U").split()
                    self._repo.git.reset("--hard", "HEAD")
                    return ", ".join(conflicted) or str(exc.stderr or exc).strip()[-300:]
                except GIT_ERRORS as exc:
                    raise git_failure(f"cannot revert {sha[:12]}", exc) from exc
        return None

    def write(self, relative: str, text: str) -> None:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)  # a promotion may add a file
        path.write_text(text, encoding="utf-8")

    def remove(self, relative: str) -> None:
        (self.path / relative).unlink(missing_ok=True)

    def changed(self) -> bool:
        """Whether anything differs from the commit the worktree started at (new files too)."""
        return self._repo.is_dirty(index=True, working_tree=True, untracked_files=True)

    def commit(self, message: str) -> str | None:
        """Commit everything in the worktree; None when there is nothing to commit."""
        try:
            self._repo.git.add("--all")
            if not self._repo.is_dirty(index=True, working_tree=False, untracked_files=False):
                return None
            with self._repo.git.custom_environment(**committer()):
                self._repo.git.commit("--no-verify", "-m", message)
            return self._repo.head.commit.hexsha
        except GIT_ERRORS as exc:
            raise git_failure("cannot commit the rollback", exc) from exc

    def push(self, branch: str) -> None:
        """Push HEAD to origin as `branch` (forced: the rollback/ namespace is ours)."""
        try:
            remote = git.Repo(self._mirror.path).remotes.origin.url
            with self._repo.git.custom_environment(**self._mirror.git_env()):
                self._repo.git.push(remote, f"+HEAD:refs/heads/{branch}")
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot push {branch}", exc) from exc


class Workspace:
    """Reads of the mirror's history, and worktrees of it, for one rollback."""

    def __init__(self, mirror: GitMirror) -> None:
        self.mirror = mirror
        try:
            self._repo = git.Repo(mirror.path)
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot open the mirror {mirror.path}", exc) from exc

    def commits_applied(self, sha: str, previous: str | None) -> list[str]:
        """The commits an apply of `sha` brought live after `previous`, newest first, along the
        first-parent line (a merged pull request is its merge commit)."""
        if previous is None:
            return [sha]
        try:
            if not self._repo.is_ancestor(self._repo.commit(previous), self._repo.commit(sha)):
                return [sha]  # history was rewritten: take back the one commit
            listed = self._repo.git.rev_list("--first-parent", f"{previous}..{sha}")
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot list the commits after {previous[:12]}", exc) from exc
        return listed.split() or [sha]

    def files(self, sha: str, folder: str) -> dict[str, str]:
        """The YAML files under `folder` at commit `sha`, by path."""
        try:
            tree = self._repo.commit(sha).tree / folder
        except (KeyError, ValueError, git.BadName):
            return {}
        return {
            str(blob.path): blob.data_stream.read().decode("utf-8", "replace")
            for blob in tree.traverse()
            if isinstance(blob, git.Blob) and str(blob.path).endswith((".yaml", ".yml"))
        }

    @contextmanager
    def worktree(self, base: str) -> Iterator[Worktree]:
        """A detached worktree at `base`, removed on exit."""
        folder = Path(tempfile.mkdtemp(prefix="controlplane-rollback-"))
        path = folder / "work"
        with self.mirror.lock:
            try:
                self._repo.git.worktree("add", "--detach", str(path), base)
            except GIT_ERRORS as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise git_failure("cannot create a worktree", exc) from exc
        try:
            yield Worktree(git.Repo(path), self.mirror)
        finally:
            with self.mirror.lock:
                with suppress(*GIT_ERRORS):
                    self._repo.git.worktree("remove", "--force", str(path))
                with suppress(*GIT_ERRORS):
                    self._repo.git.worktree("prune")
            shutil.rmtree(folder, ignore_errors=True)
