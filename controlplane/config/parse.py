"""Files of a config repository → located documents. Pure: the files come in as data.

Both sources of files (a working folder, a git revision: `controlplane.repo`) list the same files
(*.yaml and *.yml under environments/ and policies/) with paths relative to the config root, so
nothing after this module can tell them apart.

Everything is parsed (all environments and all policies); choosing an environment is
validation's business, because policies refer across environments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from controlplane.config.documents import Document, LoadedConfig, environment_of, parse_documents
from controlplane.errors import Problem, Rule

CONFIG_DIRS = ("environments", "policies")
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ConfigFile:
    """One file of a config repository, or the reason it was refused (its content unread)."""

    path: str  # relative to the config root
    content: bytes = b""
    refused: str = ""  # e.g. "a symbolic link to outside the repository"
    expected: str = "a regular file inside the repository (its target is not read)"


def is_config_file(relative: PurePosixPath) -> bool:
    """Whether a path relative to the config root is one the config is read from."""
    return relative.suffix in YAML_SUFFIXES and relative.parts[0] in CONFIG_DIRS


def parse_config(
    files: Iterable[ConfigFile], root: str, revision: str | None = None
) -> LoadedConfig:
    """Parse every file; problems inside files (encoding, YAML syntax, stray locations) and files
    refused by the reader are returned, all of them."""
    documents: list[Document] = []
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    environments: set[str] = set()
    for item in files:
        file, content = item.path, item.content
        environment = environment_of(file)
        if environment is not None:
            environments.add(environment)
        if item.refused:
            problems.append(
                Problem(
                    file=file,
                    line=1,
                    path="",
                    found=item.refused,
                    expected=item.expected,
                    rule=Rule.LAYOUT,
                )
            )
            continue
        if environment is None and PurePosixPath(file).parts[0] == "environments":
            problems.append(
                Problem(
                    file=file,
                    line=1,
                    path="",
                    found="a file directly under environments/",
                    expected="files under environments/<env>/, one folder per environment",
                    rule=Rule.LAYOUT,
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
                    rule=Rule.YAML,
                )
            )
            continue
        texts[file] = text
        parsed, file_problems = parse_documents(file, text)
        documents.extend(parsed)
        problems.extend(file_problems)
    return LoadedConfig(
        root=root,
        revision=revision,
        documents=tuple(documents),
        texts=texts,
        environments=tuple(sorted(environments)),
        problems=tuple(problems),
    )
