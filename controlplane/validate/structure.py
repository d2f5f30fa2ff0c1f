"""Structure: a document's shape against its kind's JSON Schema, then the typed model.

The JSON Schema pass gives the precise, located messages (it sees every error at once); the
pydantic pass then builds the frozen resource. Both come from the same models, so a document
the schema accepts is one pydantic accepts too; if they ever disagree, pydantic's errors are
reported the same way rather than lost.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError as SchemaError
from pydantic import ValidationError

from controlplane.config.documents import Document, FieldPath
from controlplane.errors import Problem, Rule
from controlplane.schema.jsonschema import kind_schema
from controlplane.spec import API_VERSION, KIND_BY_NAME, Resource
from controlplane.spec.base import (
    DURATION_PATTERN,
    HTTP_URL_PATTERN,
    NAME_PATTERN,
    PARAMETER_COUNT_PATTERN,
    SECRET_REF_PATTERN,
)

_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?$")
# What the shared patterns mean, since a field's own description replaces its type's.
PATTERN_MEANING = {
    DURATION_PATTERN: "a duration such as 500ms, 30s, 5m, 1h30m or 30d (units from the largest, "
    "each once, at most four digits each)",
    NAME_PATTERN: "a DNS label: lower-case letters, digits and '-', starting and ending with a "
    "letter or digit, at most 63 characters",
    HTTP_URL_PATTERN: "an http:// or https:// URL without credentials in it, its port 1 to 65535",
    PARAMETER_COUNT_PATTERN: "a count such as 70B or 270M",
}
SCOPE_FOLDER = {"environment": "environments/<env>/", "policy": "policies/"}


@dataclass(frozen=True)
class Located:
    """A typed resource and the document it was read from."""

    resource: Resource
    document: Document
    environment: str | None

    def problem(self, path: FieldPath, found: str, expected: str, rule: Rule) -> Problem:
        return self.document.problem(path, found, expected, rule)


def parse_resource(
    document: Document, environment: str | None
) -> tuple[Located | None, list[Problem]]:
    """The typed resource in `document`, or the problems that keep it from being one."""
    data = document.data

    def problem(path: FieldPath, found: str, expected: str, rule: Rule = Rule.SCHEMA) -> Problem:
        return document.problem(path, found, expected, rule)

    if not isinstance(data, dict):
        return None, [problem((), show(data), "a mapping with apiVersion, kind, metadata, spec")]
    kind_name = data.get("kind")
    kind = KIND_BY_NAME.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        found = "no kind" if kind_name is None else show(kind_name)
        return None, [problem(("kind",), found, "one of " + ", ".join(KIND_BY_NAME))]
    expected_scope = "environment" if environment is not None else "policy"
    if expected_scope != kind.SCOPE:
        return None, [
            problem(
                ("kind",),
                f"a {kind.KIND} in {document.file}",
                f"{kind.KIND} resources under {SCOPE_FOLDER[kind.SCOPE]}",
                Rule.LAYOUT,
            )
        ]
    if data.get("apiVersion") != API_VERSION and "apiVersion" in data:
        # Say it once, plainly, instead of a const mismatch buried among other errors.
        return None, [problem(("apiVersion",), show(data["apiVersion"]), repr(API_VERSION))]

    resource = _parse_strictly(kind, data)
    if resource is not None:  # the common case: valid, so no need to explain anything
        return Located(resource, document, environment), []
    triples = [
        triple
        for error in _validator(kind.KIND).iter_errors(data)
        for triple in describe_schema_error(error, kind_schema(kind))
    ]
    # A misspelt required field is one mistake: keep "unknown field x; did you mean y?" and drop
    # "y is missing".
    misspelt = {
        (*path[:-1], match.group(1))
        for path, _, expected in triples
        if (match := _DID_YOU_MEAN.search(expected))
    }
    problems = sorted(
        {problem(*t) for t in triples if not (t[1] == "nothing" and t[0] in misspelt)}
    )
    if problems:
        return None, problems
    try:
        resource = kind.model_validate(data)
    except ValidationError as exc:
        return None, [
            problem(tuple(err["loc"]), show(err.get("input")), err["msg"])
            for err in exc.errors(include_url=False)
        ]
    return Located(resource, document, environment), []


def _parse_strictly(kind: type[Resource], data: dict[str, Any]) -> Resource | None:
    """Pydantic in strict JSON mode accepts exactly what the JSON Schema accepts, and much
    faster; the schema pass runs only when this fails, to say precisely why. An explicit null
    is the one difference (pydantic takes it for "absent" in optional fields; the schema says a
    field is left out, not written as null), so a document holding one takes the schema pass."""
    if _holds_null(data):
        return None
    try:
        return kind.model_validate_json(json.dumps(data, allow_nan=False), strict=True)
    except (ValidationError, TypeError, ValueError):
        return None


def _holds_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_holds_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_null(v) for v in value)
    return False


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(kind_schema(KIND_BY_NAME[kind]))


def describe_schema_error(
    error: SchemaError, root: dict[str, Any]
) -> list[tuple[FieldPath, str, str]]:
    """One jsonschema error as (field path, what was found, what was expected) triples.

    `root` is the whole schema, for following local `$ref`s.
    """
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    value: Any = error.validator_value
    instance: Any = error.instance
    match error.validator:
        case "required":
            return [
                ((*path, name), "nothing", f"the field {name}" + _described(schema, name))
                for name in value
                if isinstance(instance, dict) and name not in instance
            ]
        case "additionalProperties":
            allowed = sorted(schema.get("properties", {}))
            return [
                (
                    (*path, str(key)),
                    f"unknown field {show(key)}",
                    _allowed_fields(str(key), allowed),
                )
                for key in instance
                if key not in allowed
            ]
        case "propertyNames":
            return [(path, "a key that is too long or not text", "keys of at most 4096 characters")]
        case "maxLength":
            return [(path, f"{len(instance)} characters", f"at most {value} characters")]
        case "oneOf" | "anyOf":
            return _describe_union(error, path, root)
        case "type":
            return [(path, show(instance), _type_names(value))]
        case "enum":
            return [(path, show(instance), "one of " + ", ".join(map(str, value)))]
        case "const":
            return [(path, show(instance), repr(value))]
        case "pattern":
            if value == SECRET_REF_PATTERN:
                return [(path, "an inline value (redacted)", str(schema.get("description")))]
            meaning = PATTERN_MEANING.get(value) or schema.get("description") or "text"
            return [(path, show(instance), f"{meaning} (matching {value})")]
        case "minimum":
            return [(path, show(instance), f"at least {value}")]
        case "maximum":
            return [(path, show(instance), f"at most {value}")]
        case "exclusiveMinimum":
            return [(path, show(instance), f"more than {value}")]
        case "exclusiveMaximum":
            return [(path, show(instance), f"less than {value}")]
        case "minItems":
            return [(path, f"{len(instance)} items", f"at least {value}")]
        case "minLength":
            return [(path, show(instance), f"at least {value} characters")]
        case _:  # the library's message can quote the whole value: keep its first line, short
            return [(path, show(instance), error.message.splitlines()[0][:200])]


def _describe_union(
    error: SchemaError, path: FieldPath, root: dict[str, Any]
) -> list[tuple[FieldPath, str, str]]:
    """For a union tagged by `type`, report the errors of the branch the tag picks."""
    instance: Any = error.instance
    options: Any = error.validator_value
    tags = [
        _resolve(option, root).get("properties", {}).get("type", {}).get("const")
        for option in options
    ]
    if all(isinstance(tag, str) for tag in tags) and tags:
        tag = instance.get("type") if isinstance(instance, dict) else None
        if tag not in tags:
            found = "no type" if tag is None else show(tag)
            return [((*path, "type"), found, "a type of " + ", ".join(tags))]
        branch = tags.index(tag)
        described = [
            triple
            for sub in error.context or []
            if sub.relative_schema_path and sub.relative_schema_path[0] == branch
            for triple in describe_schema_error(sub, root)
        ]
        if described:
            return described
    schema = error.schema if isinstance(error.schema, dict) else {}
    return [(path, show(instance), schema.get("description") or error.message)]


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local '#/$defs/Name' reference; other schemas are returned as they are."""
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        found = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return found if isinstance(found, dict) else {}
    return schema


def _described(schema: dict[str, Any], name: str) -> str:
    description = schema.get("properties", {}).get(name, {}).get("description")
    return f" ({description})" if description else ""


# Fields a former version accepted: (a field beside it, to know the place) -> what to do now.
_REMOVED = {
    ("window", "maxLooks"): "no window: a canary is judged on every minute since it went live "
    "(README, 'How canary verdicts are reached')",
}


def _allowed_fields(key: str, allowed: list[str]) -> str:
    for (removed, beside), advice in _REMOVED.items():
        if key == removed and beside in allowed:
            return advice
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ("one of " + ", ".join(allowed) if allowed else "no fields here") + hint


def _type_names(value: object) -> str:
    names = value if isinstance(value, list) else [value]
    article = {"integer": "an integer", "array": "a list", "object": "a mapping"}
    return " or ".join(article.get(str(n), f"a {n}") for n in names)


def show(value: object) -> str:
    """A short rendering of a found value for messages."""
    match value:
        case None:
            return "null"
        case bool():
            return "true" if value else "false"
        case dict():
            return "a mapping"
        case list():
            return "a list"
        case str():
            text = value if len(value) <= 60 else value[:57] + "..."
            return repr(text)
        case _:
            return repr(value)
