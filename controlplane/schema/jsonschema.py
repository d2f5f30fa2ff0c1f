"""JSON Schemas generated from the spec models: one per kind, plus one for any kind.

They are committed under schemas/ so that editors (yaml-language-server) complete and check the
YAML, and CI checks that they match the models. Validation uses the same generated schemas.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from controlplane.spec import KINDS, Resource
from controlplane.spec.base import MAX_STRING, format_duration

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://controlplane.dev/schemas/"
ANY_KIND_FILE = "controlplane.json"


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, tuned for hand-written YAML."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        # An optional field is left out, not written as null: `x: null` is a mistake.
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None:
            del generated["default"]  # "absent" is not a value worth showing
        return generated

    def encode_default(self, dft: Any) -> Any:
        # Durations are written as in YAML ("1h"), not as ISO 8601 ("PT1H").
        return format_duration(dft) if isinstance(dft, timedelta) else super().encode_default(dft)

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        generated = super().str_schema(schema)
        generated.setdefault("maxLength", MAX_STRING)  # as the models' str_max_length
        return generated

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        generated = super().dict_schema(schema)
        generated.setdefault("propertyNames", {"maxLength": MAX_STRING})
        return generated

    def field_title_should_be_set(self, schema: Any) -> bool:
        # Field titles would repeat the name ("Gpumemorygib"); descriptions carry the meaning.
        return False


def schema_file_name(kind: type[Resource]) -> str:
    return f"{kind.KIND.lower()}.json"


@cache
def kind_schema(kind: type[Resource]) -> dict[str, Any]:
    body = kind.model_json_schema(by_alias=True, schema_generator=_Generator, mode="validation")
    return {"$schema": DRAFT, "$id": ID_BASE + schema_file_name(kind), **body}


def any_kind_schema() -> dict[str, Any]:
    """For files that hold several kinds: dispatch on `kind` to the kind's own schema."""
    names = [k.KIND for k in KINDS]
    return {
        "$schema": DRAFT,
        "$id": ID_BASE + ANY_KIND_FILE,
        "title": "controlplane resource",
        "description": "Any controlplane resource; the kind field selects its schema.",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {"kind": {"enum": names, "description": "The kind of resource."}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": k.KIND}}, "required": ["kind"]},
                "then": {"$ref": schema_file_name(k)},
            }
            for k in KINDS
        ],
    }


def render_schema_files() -> dict[str, str]:
    """File name under schemas/ -> exact text to commit (stable key order, trailing newline)."""
    files = {schema_file_name(k): kind_schema(k) for k in KINDS}
    files[ANY_KIND_FILE] = any_kind_schema()
    return {name: json.dumps(body, indent=2) + "\n" for name, body in sorted(files.items())}
