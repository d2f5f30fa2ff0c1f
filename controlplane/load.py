"""Load the config: files from a folder or a git revision, parsed into located documents.

Both sources list the same files (*.yaml and *.yml under environments/ and policies/) with paths
relative to the config root, so nothing after this module can tell them apart. A git revision is
read from the object database: nothing is checked out and the working tree is not touched.

`load_config` reads everything (all environments and all policies); choosing an environment is
validation's business, because policies refer across environments.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import git

from controlplane.documents import Document, LoadedConfig, environment_of, parse_documents
from controlplane.errors import ConfigError, Problem

CONFIG_DIRS = ("environments", "policies")
YAML_SUFFIXES = (".yaml", ".yml")


def _is_config_file(relative: PurePosixPath) -> bool:
    return relative.suffix in YAML_SUFFIXES and relative.parts[0] in CONFIG_DIRS


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
            if path.is_file() and _is_config_file(relative):
                yield str(relative), path.read_bytes()


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
                if _is_config_file(relative):
                    yield str(relative), blob.data_stream.read()


def load_config(root: Path, rev: str | None = None) -> LoadedConfig:
    """Read and parse every config file under `root`, or under `root` at commit `rev`.

    Raises ConfigError when the files cannot be listed at all; problems inside files (encoding,
    YAML syntax, stray locations) are returned, all of them.
    """
    files = read_revision(root, rev) if rev is not None else read_folder(root)
    documents: list[Document] = []
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    environments: set[str] = set()
    for file, content in files:
        environment = environment_of(file)
        if environment is not None:
            environments.add(environment)
        elif PurePosixPath(file).parts[0] == "environments":
            problems.append(
                Problem(
                    file=file,
                    line=1,
                    path="",
                    found="a file directly under environments/",
                    expected="files under environments/<env>/, one folder per environment",
                    rule="layout",
                )
            )
            continue
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    file=file,
                    line=content[: exc.start].count(b"\n") + 1,
                    path="",
                    found=f"a byte that is not UTF-8 at offset {exc.start}",
                    expected="UTF-8 text",
                    rule="yaml",
                )
            )
            continue
        texts[file] = text
        parsed, file_problems = parse_documents(file, text)
        documents.extend(parsed)
        problems.extend(file_problems)
    return LoadedConfig(
        root=str(root),
        revision=rev,
        documents=tuple(documents),
        texts=texts,
        environments=tuple(sorted(environments)),
        problems=tuple(problems),
    )
