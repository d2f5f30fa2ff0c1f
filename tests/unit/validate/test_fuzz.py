"""Property: whatever YAML a user writes, validation answers with problems, never a traceback;
and through the command itself (files on disk, the loader, the renderers), the exit code is 0, 1
or 2 and every line is bounded."""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane import engine
from controlplane.cli import main
from controlplane.config import LoadedConfig, parse_documents
from controlplane.validate import validate_config
from tests.support.config import REPO

BASE = engine.load(REPO)
TARGET = "environments/prod/routes.yaml"


def validate_with(text: str) -> None:
    documents, problems = parse_documents(TARGET, text)
    loaded: LoadedConfig = replace(
        BASE,
        documents=tuple(d for d in BASE.documents if d.file != TARGET) + tuple(documents),
        texts={**BASE.texts, TARGET: text},
        problems=tuple(problems),
    )
    result = validate_config(loaded, ["prod"])  # the file under test is in prod
    for problem in result.problems:
        assert problem.file
        assert problem.line >= 1
        assert problem.found
        assert problem.expected


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),  # infinities and NaN included
    st.text(max_size=20),
    st.sampled_from(["x" * 5000, "a-" * 2500]),  # longer than any field allows
)
keys = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)
# Pieces of YAML that bite: aliases, tags, complex and repeated keys, special numbers, nesting,
# characters YAML forbids, byte order marks, documents markers.
FRAGMENTS = [
    "a: &x [1, 2]\n",
    "b: *x\n",
    "c: !!python/object:os.system ls\n",
    "? [1, 2]\n: complex\n",
    "? {k: v}\n: complex\n",
    "1: int key\n",
    "null: null key\n",
    "kind: Route\nkind: Model\n",
    "apiVersion: controlplane.dev/v1alpha1\nkind: Route\nmetadata: {name: chat}\n",
    "spec: {model: chat-v1, timeout: 99999999999999d}\n",
    "spec: {rateLimits: {requestsPerMinute: .inf}}\n",
    "n: " + "9" * 5000 + "\n",
    "deep: " + "[" * 500 + "]" * 500 + "\n",
    "---\n",
    "...\n",
    "\ttab: indented\n",
    "\ufeffbom: yes\n",
    "bell: \x07\n",
    "dates: 2026-11-25\n",
    "on: yes\n",
    "  - stray\n",
    "metadata: {name: a..b, labels: {1: 2}}\n",
]

FIELDS = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "model",
    "canary",
    "variants",
    "percent",
    "weight",
    "name",
    "fallbacks",
    "guardrails",
    "cascade",
    "type",
    "stage",
]
ROUTE = yaml.safe_load((REPO / TARGET).read_text())


def mutate(document: Any, path: list[str], value: Any) -> Any:
    if not path or not isinstance(document, dict):
        return value
    key, rest = path[0], path[1:]
    return {**document, key: mutate(document.get(key), rest, value)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    validate_with(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8))
def test_hostile_yaml_fragments(pieces: list[str]) -> None:
    validate_with("".join(pieces))


def test_the_command_answers_every_file_with_0_1_or_2(tmp_path: Path) -> None:
    """The whole `controlplane validate`: files on disk, the loader, validation, the renderer."""
    root = tmp_path / "config"
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, root / folder)
    target = root / TARGET
    texts = st.one_of(
        st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("".join),
        values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
        st.builds(
            lambda p, v: yaml.safe_dump(mutate(ROUTE, p, v)),
            st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3),
            values,
        ),
        st.binary(max_size=300),
    )

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(texts)
    def check(text: str | bytes) -> None:
        target.write_bytes(
            text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        )
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", str(root), "--output", "github"])
        assert code in (0, 1, 2), err.getvalue()
        assert "internal error" not in err.getvalue()
        assert all(len(line) < 2000 for line in out.getvalue().splitlines())

    check()


@settings(max_examples=150, deadline=None)
@given(values)
def test_arbitrary_yaml_values(value: Any) -> None:
    validate_with(yaml.safe_dump(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3), values)
def test_mutated_route(path: list[str], value: Any) -> None:
    validate_with(yaml.safe_dump(mutate(ROUTE, path, value), sort_keys=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3), values)
def test_strict_model_and_json_schema_agree(path: list[str], value: Any) -> None:
    """Validation takes pydantic's strict answer when it is yes; the schema must say yes too."""
    import jsonschema

    from controlplane.schema import kind_schema
    from controlplane.spec import Route
    from controlplane.validate.structure import _parse_strictly

    document = mutate(ROUTE, path, value)
    if not isinstance(document, dict) or document.get("kind") != "Route":
        return
    schema_ok = jsonschema.Draft202012Validator(kind_schema(Route)).is_valid(document)
    assert (_parse_strictly(Route, document) is not None) == schema_ok
