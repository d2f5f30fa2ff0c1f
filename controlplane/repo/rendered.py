"""The branch rendered manifests are committed to, in the config repository (gitpython).

Written with git's plumbing on a private index, so it works the same on serve's bare mirror and
on a working clone, and never touches a checkout: the folder's files are replaced as a whole, a
commit is made only when the tree changed, the branch moves only from the head it was read at
(a compare-and-swap), and, where the repository has an origin to push to, the commit is pushed
without force: a branch moved by someone else is a failure retried on the next pass, never
overwritten.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import git

from controlplane.errors import RepoError
from controlplane.repo.errors import GIT_ERRORS, git_failure
from controlplane.repo.worktree import committer


class RenderedBranch:
    """One folder of one branch: read its files, replace them with a commit."""

    def __init__(
        self,
        repository: Path,
        branch: str,
        folder: str,
        push: bool,
        git_env: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = repository
        self.branch = branch
        self.folder = folder.strip("/")
        self.push = push
        self._env = dict(git_env or {})

    def _repo(self) -> git.Repo:
        try:
            return git.Repo(self.repository)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise RepoError(
                f"{self.repository} is not a git repository: rendered manifests are committed to "
                f"branch {self.branch!r} of the config repository, so plan and apply from a clone"
            ) from exc
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot open the config repository {self.repository}", exc) from exc

    def _head(self, repo: git.Repo) -> str | None:
        try:
            return str(repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{self.branch}"))
        except git.GitCommandError:
            return None

    def fetch(self) -> None:
        """Bring the branch up to date from origin, where there is one (a new branch is none)."""
        repo = self._repo()
        if not self.push or "origin" not in [r.name for r in repo.remotes]:
            return
        try:
            with repo.git.custom_environment(**self._env):
                remote = str(repo.git.ls_remote("origin", f"refs/heads/{self.branch}"))
                if remote.strip():
                    refspec = f"+refs/heads/{self.branch}:refs/heads/{self.branch}"
                    repo.git.fetch("origin", refspec)
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot fetch branch {self.branch!r}", exc) from exc

    def read(self) -> dict[str, str]:
        """The folder's files on the branch, by path within the folder (none: no branch yet)."""
        self.fetch()
        repo = self._repo()
        head = self._head(repo)
        if head is None:
            return {}
        try:
            tree = repo.commit(head).tree
            folder = tree / self.folder if self.folder else tree
        except KeyError:
            return {}
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot read branch {self.branch!r}", exc) from exc
        prefix = f"{self.folder}/" if self.folder else ""
        return {
            str(blob.path).removeprefix(prefix): blob.data_stream.read().decode("utf-8", "replace")
            for blob in folder.traverse()
            if isinstance(blob, git.Blob)
        }

    def write(self, files: Mapping[str, str], message: str) -> str | None:
        """Replace the folder's files with `files` in one commit on the branch (pushed where
        there is an origin). The new commit, or None when nothing changed."""
        repo = self._repo()
        head = self._head(repo)
        with tempfile.TemporaryDirectory(prefix="controlplane-render-") as scratch:
            env = {**self._env, **committer(), "GIT_INDEX_FILE": os.path.join(scratch, "index")}
            try:
                with repo.git.custom_environment(**env):
                    if head is None:
                        repo.git.read_tree("--empty")
                    else:
                        repo.git.read_tree(head)
                        if self.folder:
                            repo.git.rm(
                                "-r", "--cached", "--quiet", "--ignore-unmatch", self.folder
                            )
                    for relative, text in sorted(files.items()):
                        path = f"{self.folder}/{relative}" if self.folder else relative
                        staged = Path(scratch, "blob")
                        staged.write_text(text, encoding="utf-8")
                        blob = repo.git.hash_object("-w", str(staged))
                        repo.git.update_index("--add", "--cacheinfo", f"100644,{blob},{path}")
                    tree = repo.git.write_tree()
                    if head is not None and repo.commit(head).tree.hexsha == tree:
                        return None
                    parents = ["-p", head] if head is not None else []
                    commit = repo.git.commit_tree(tree, *parents, "-m", message)
                    repo.git.update_ref(f"refs/heads/{self.branch}", commit, head or "0" * 40)
                    if self.push and "origin" in [r.name for r in repo.remotes]:
                        repo.git.push("origin", f"{commit}:refs/heads/{self.branch}")
            except GIT_ERRORS as exc:
                raise git_failure(
                    f"cannot commit the rendered manifests to {self.branch!r}", exc
                ) from exc
        return str(commit)
