"""Property: whatever YAML a user writes, validation answers with problems, never a traceback."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane import engine
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
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=20,
)

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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    validate_with(text)


@settings(max_examples=200, deadline=None)
@given(values)
def test_arbitrary_yaml_values(value: Any) -> None:
    validate_with(yaml.safe_dump(value))


@settings(max_examples=300, deadline=None)
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
