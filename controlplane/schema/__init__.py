"""JSON Schemas of every kind and the Markdown configuration reference, generated from the spec
models. Pure."""

from controlplane.schema.jsonschema import (
    ANY_KIND_FILE,
    any_kind_schema,
    kind_schema,
    render_schema_files,
    schema_file_name,
)
from controlplane.schema.reference import REFERENCE_FILE, render_reference

__all__ = [
    "ANY_KIND_FILE",
    "REFERENCE_FILE",
    "any_kind_schema",
    "kind_schema",
    "render_reference",
    "render_schema_files",
    "schema_file_name",
]
