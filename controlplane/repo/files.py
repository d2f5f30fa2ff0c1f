"""The config files of a repository: from a working folder, or from a git revision without
checking it out (gitpython reads the object database; the working tree is not touched).

The repository is a sandbox. A symbolic link that leads outside it (or nowhere) is refused, and
its target is never read or quoted: a config under review must not be able to make CI print
/etc/passwd. Links that stay inside are followed. A file larger than MAX_FILE_BYTES is refused
unread.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import git

from controlplane.config import CONFIG_DIRS, ConfigFile, is_config_file
from controlplane.errors import ConfigError
from controlplane.repo.errors import GIT_ERRORS, git_failure

MAX_FILE_BYTES = 4 * 1024 * 1024
OUTSIDE = "a symbolic link to outside the repository"
NOWHERE = "a symbolic link to nothing"
LINK_MODE = 0o120000  # how git stores a symbolic link


def _too_large(relative: str, size: int) -> ConfigFile:
    return ConfigFile(
        relative,
        refused=f"a file of {size:,} bytes",
        expected=f"at most {MAX_FILE_BYTES:,} bytes in a config file (it was not read)",
    )


def read_folder(root: Path) -> Iterator[ConfigFile]:
    """Every config file under a folder (path relative to root), sorted; refused links and
    oversized files as refusals."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such directory")
    real_root = root.resolve()
    for top in CONFIG_DIRS:
        base = root / top
        if base.is_symlink() and not base.resolve().is_relative_to(real_root):
            yield ConfigFile(top, refused=OUTSIDE)
            continue
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    yield ConfigFile(str(relative), refused=OUTSIDE)
                    continue
                if not target.exists():
                    yield ConfigFile(str(relative), refused=NOWHERE)
                    continue
            if path.is_file() and is_config_file(relative):
                yield _read(path, relative)


def _read(path: Path, relative: PurePosixPath) -> ConfigFile:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return _too_large(str(relative), size)
        return ConfigFile(str(relative), path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{relative}: cannot be read: {exc.strerror}") from exc


def read_revision(root: Path, rev: str) -> Iterator[ConfigFile]:
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
                        yield _blob_file(commit.tree, blob, str(relative))
                    elif blob.mode == LINK_MODE and _link_target(blob) is None:
                        yield ConfigFile(str(relative), refused=OUTSIDE)
        except GIT_ERRORS as exc:
            raise git_failure(f"cannot read {rev!r} from {repo.git_dir}", exc) from exc


def _blob_file(tree: git.Tree, blob: git.Blob, relative: str) -> ConfigFile:
    """A blob's content; a link is followed (a few hops) only while it stays in the commit."""
    for _ in range(8):
        if blob.mode != LINK_MODE:
            if blob.size > MAX_FILE_BYTES:
                return _too_large(relative, blob.size)
            return ConfigFile(relative, blob.data_stream.read())
        joined = _link_target(blob)
        if joined is None:
            return ConfigFile(relative, refused=OUTSIDE)
        try:
            found = tree / joined
        except KeyError:
            return ConfigFile(relative, refused=NOWHERE)
        if not isinstance(found, git.Blob):
            return ConfigFile(relative, refused=NOWHERE)
        blob = found
    return ConfigFile(relative, refused=NOWHERE)


def _link_target(blob: git.Blob) -> str | None:
    """Where a link blob points, as a path in the commit; None when that is outside it."""
    target = blob.data_stream.read(4096).decode("utf-8", "replace")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(str(blob.path)), target))
    if target.startswith("/") or joined == ".." or joined.startswith("../"):
        return None
    return joined
