"""YAML text -> documents that remember where every field was written.

Pure: this module parses text it is given. Reading files and git lives in controlplane.repo.

PyYAML composes a node tree with marks; we construct the data from it as usual and walk the same
tree once to map each field path to its line. Two YAML 1.1 surprises are turned off, because they
bite config files: `on`/`yes`/`no` are strings, not booleans, and dates stay strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import yaml

from controlplane.errors import Problem, Rule

FieldPath = tuple[str | int, ...]

# A document that expands (through aliases) past this many values is refused: it is either a
# mistake or an attempt to make validation run forever ("billion laughs").
MAX_VALUES_PER_DOCUMENT = 100_000
_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# libyaml's parser when PyYAML was built with it (the wheels are): same nodes and marks, faster.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ConfigLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader with YAML 1.2 booleans (true/false only) and no implicit timestamps."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Document:
    """One YAML document of a config file, with the line of each field."""

    file: str
    index: int
    line: int
    data: Any
    lines: Mapping[FieldPath, int] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """`Kind/name` as far as the raw data says, for problems found before parsing."""
        data = self.data if isinstance(self.data, dict) else {}
        kind = data.get("kind")
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if isinstance(kind, str) and isinstance(name, str):
            return f"{kind}/{name}"
        return kind if isinstance(kind, str) else ""

    def problem(self, path: FieldPath, found: str, expected: str, rule: Rule) -> Problem:
        """A problem at the field `path` of this document."""
        return Problem(
            file=self.file,
            line=self.line_of(path),
            path=format_path(path),
            found=found,
            expected=expected,
            rule=rule,
            resource=self.label,
        )

    def line_of(self, path: FieldPath) -> int:
        """Line of the field at `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return self.line


@dataclass(frozen=True)
class LoadedConfig:
    """Every document found, the environment folders seen, and what could not be read."""

    root: str
    revision: str | None
    documents: tuple[Document, ...]
    texts: Mapping[str, str]
    environments: tuple[str, ...]
    problems: tuple[Problem, ...]


def environment_of(file: str) -> str | None:
    """'environments/prod/models.yaml' -> 'prod'; policies and stray files -> None."""
    parts = PurePosixPath(file).parts
    if len(parts) >= 3 and parts[0] == "environments":
        return parts[1]
    return None


def parse_documents(file: str, text: str) -> tuple[list[Document], list[Problem]]:
    """Every non-empty document in `text`; a syntax error ends the file with a problem."""
    documents: list[Document] = []
    problems: list[Problem] = []
    try:
        loader = _ConfigLoader(text)  # checks every character up front, so inside the try
    except yaml.reader.ReaderError as exc:
        return [], [_reader_problem(file, text, exc)]
    index = -1
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            line = node.start_mark.line + 1
            lines: dict[FieldPath, int] = {}
            duplicates: list[tuple[FieldPath, int, int]] = []
            size = _walk(node, (), lines, duplicates, {})
            if size > MAX_VALUES_PER_DOCUMENT:
                found = f"a document that expands to {size} values"
                expected = f"at most {MAX_VALUES_PER_DOCUMENT} (check YAML aliases)"
                problems.append(_yaml_problem(file, line, found, expected))
                continue
            problems.extend(
                _yaml_problem(
                    file,
                    again,
                    f"key repeated (first at line {first})",
                    "each key once in a mapping",
                    path,
                )
                for path, first, again in duplicates
            )
            data = loader.construct_document(node)
            if data is not None:
                documents.append(Document(file, index, line, data, lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(_yaml_problem(file, line, _yaml_error_text(exc), "valid YAML"))
    except yaml.reader.ReaderError as exc:
        problems.append(_reader_problem(file, text, exc))
    except yaml.YAMLError as exc:
        problems.append(_yaml_problem(file, 1, str(exc).splitlines()[0], "valid YAML"))
    except RecursionError:
        problems.append(_yaml_problem(file, 1, "nesting too deep to read", "valid YAML"))
    except ValueError as exc:  # e.g. an integer of more digits than Python converts (4300)
        problems.append(
            _yaml_problem(file, 1, f"a value that cannot be read ({exc})", "valid YAML")
        )
    finally:
        loader.dispose()
    return documents, problems


def _yaml_problem(file: str, line: int, found: str, expected: str, path: FieldPath = ()) -> Problem:
    return Problem(
        file=file, line=line, path=format_path(path), found=found, expected=expected, rule=Rule.YAML
    )


def _walk(
    node: yaml.Node,
    path: FieldPath,
    lines: dict[FieldPath, int],
    duplicates: list[tuple[FieldPath, int, int]],
    sizes: dict[int, int],
) -> int:
    """Record field lines and repeated keys; return how many values the node expands to.

    A node reached again through an alias is counted but not walked again, so the cost stays
    linear in the text however the aliases multiply.
    """
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # provisional: guards against recursive aliases
    size = 1
    if isinstance(node, yaml.MappingNode):
        first_line: dict[object, int] = {}
        for key_node, value_node in node.value:
            key: str | int | None = None
            if isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
                key_line = key_node.start_mark.line + 1
                if key == "<<":  # merge key: its fields belong to this mapping
                    size += _walk(value_node, path, lines, duplicates, sizes)
                    continue
                if key in first_line:
                    duplicates.append(((*path, key), first_line[key], key_line))
                first_line[key] = key_line
                lines.setdefault((*path, key), key_line)
            child = path + ((key,) if key is not None else ())
            size += _walk(value_node, child, lines, duplicates, sizes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault((*path, i), item.start_mark.line + 1)
            size += _walk(item, (*path, i), lines, duplicates, sizes)
    sizes[id(node)] = size
    return size


def _reader_problem(file: str, text: str, exc: yaml.reader.ReaderError) -> Problem:
    """A character YAML does not allow (control characters and the like)."""
    line = text[: exc.position].count("\n") + 1
    found = f"the character U+{exc.character:04X}, which YAML does not allow"
    return _yaml_problem(file, line, found, "printable text")


def _yaml_error_text(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "a syntax error: " + ", ".join(parts) if parts else "a syntax error"


def format_path(path: FieldPath) -> str:
    """('spec', 'variants', 0, 'weight') -> 'spec.variants[0].weight'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
