"""The config files of a repository: from a working folder, or from a git revision without
checking it out (gitpython reads the object database; the working tree is not touched)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import git

from controlplane.config import CONFIG_DIRS, is_config_file
from controlplane.errors import ConfigError
from controlplane.repo.errors import GIT_ERRORS, git_failure


def read_folder(root: Path) -> Iterator[tuple[str, bytes]]:
    """(path relative to root, content) of every config file under a folder, sorted."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such directory")
    for top in CONFIG_DIRS:
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_file() and is_config_file(relative):
                try:
                    yield str(relative), path.read_bytes()
                except OSError as exc:
                    raise ConfigError(f"{relative}: cannot be read: {exc.strerror}") from exc


def read_revision(root: Path, rev: str) -> Iterator[tuple[str, bytes]]:
    """The same files as they are in commit `rev` of the repository that holds `root`."""
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise ConfigError(f"{root}: not inside a git repository, so --rev cannot be read") from exc
    try:
        commit = repo.commit(rev)
    except (git.BadName, ValueError) as exc:
        raise ConfigError(f"{rev!r}: no such revision in {repo.git_dir}") from exc
    prefix = PurePosixPath()
    if not repo.bare and repo.working_tree_dir is not None:
        try:
            relative_root = root.resolve().relative_to(Path(repo.working_tree_dir).resolve())
        except ValueError as exc:
            raise ConfigError(f"{root}: outside the repository's working tree") from exc
        prefix = PurePosixPath(relative_root.as_posix())
    with repo:
        try:
            for top in CONFIG_DIRS:
                try:
                    tree = commit.tree / str(prefix / top)
                except KeyError:
                    continue
                if not isinstance(tree, git.Tree):
                    continue
                blobs = sorted(
                    (item for item in tree.traverse() if isinstance(item, git.Blob)),
                    key=lambda blob: str(blob.path),
                )
                for blob in blobs:
                    relative = PurePosixPath(blob.path).relative_to(prefix)
                    if is_config_file(relative):
                        yield str(relative), blob.data_stream.read()
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot read {rev!r} from {repo.git_dir}", exc) from exc
