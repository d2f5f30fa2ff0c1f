"""The config repository adapter: its files (a working folder or a git revision), the service's
bare mirror, and worktrees for rollbacks. The only package that imports gitpython; every git
failure leaves it as a RepoError (or a ConfigError for a path or revision that does not exist)."""

from controlplane.repo.files import read_folder, read_revision
from controlplane.repo.mirror import Commit, GitMirror, repo_url
from controlplane.repo.rendered import RenderedBranch
from controlplane.repo.worktree import Workspace, Worktree

__all__ = [
    "Commit",
    "GitMirror",
    "RenderedBranch",
    "Workspace",
    "Worktree",
    "read_folder",
    "read_revision",
    "repo_url",
]
