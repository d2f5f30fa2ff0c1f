"""Rendered manifests checked against the schemas their projects publish.

- Kubernetes core types (Deployment, Service, and every core type KServe embeds: tolerations,
  resources...): the published OpenAPI schemas as PyPI's `kubernetes-validate` ships them, in
  strict mode (an unknown field is an error).
- KServe's InferenceService: KServe's own API models from its Python SDK (PyPI `kserve`,
  installed without its dependencies): each generated class lists its fields (`attribute_map`)
  and their types (`openapi_types`). The files are read, never imported (importing kserve
  starts its model server stack).
- Every object: `kubectl`-style names and labels.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

KUBERNETES = "1.37.0"
SCHEMAS = (
    Path(kubernetes_validate.__file__).parent
    / "kubernetes-json-schema"
    / f"v{KUBERNETES}-local-strict"
)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def validate_core(document: dict[str, Any]) -> None:
    """A top-level core object (Deployment, Service) against the Kubernetes schema."""
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


@cache
def _definitions() -> Registry[Any]:
    contents = json.loads((SCHEMAS / "_definitions.json").read_text())
    resource: Resource[Any] = Resource.from_contents(contents, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("/api/_definitions.json", resource)
    return registry


def validate_core_type(value: Any, definition: str, where: str) -> None:
    """An embedded value against one core definition, e.g. io.k8s.api.core.v1.Toleration."""
    schema = {"$ref": f"/api/_definitions.json#/$defs/{definition}"}
    validator = jsonschema.Draft202012Validator(schema, registry=_definitions())
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path)
        raise AssertionError(f"{where}.{path}: {first.message} ({definition})")


@cache
def _kserve_models() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """KServe class name -> (python attribute -> type, python attribute -> JSON field)."""
    spec = importlib.util.find_spec("kserve")
    missing = "kserve's API models are missing: `make install` installs kserve --no-deps"
    assert spec is not None, missing
    assert spec.submodule_search_locations, missing
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    models: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for path in folder.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef):
                continue
            found: dict[str, dict[str, str]] = {}
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and isinstance(item.targets[0], ast.Name)
                    and item.targets[0].id in ("openapi_types", "attribute_map")
                ):
                    found[item.targets[0].id] = ast.literal_eval(item.value)
            if len(found) == 2:
                models[node.name] = (found["openapi_types"], found["attribute_map"])
    return models


CORE_GROUPS = {"ObjectMeta": "io.k8s.apimachinery.pkg.apis.meta.v1"}
# Types the API writes as a string, whatever their generated class holds (Knative's JSON
# marshalling: RFC 3339 times, URLs).
AS_TEXT = {"datetime", "KnativeVolatileTime", "KnativeURL"}


def validate_kserve(value: Any, type_name: str, where: str) -> None:
    """A value against a KServe API type (V1beta1...), recursing into its fields; the
    Kubernetes core types it embeds (V1...) against the Kubernetes schema."""
    if type_name.startswith("list["):
        assert isinstance(value, list), f"{where}: expected a list"
        for i, item in enumerate(value):
            validate_kserve(item, type_name[5:-1], f"{where}[{i}]")
        return
    if type_name.startswith("dict("):
        assert isinstance(value, dict), f"{where}: expected a mapping"
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            validate_kserve(item, inner, f"{where}.{key}")
        return
    scalars: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "int": int,
        "bool": bool,
        "float": (int, float),
        "object": object,
    }
    if type_name in scalars:
        assert isinstance(value, scalars[type_name]), f"{where}: expected {type_name}"
        return
    if type_name in AS_TEXT:
        assert isinstance(value, str), f"{where}: expected {type_name} as text"
        return
    models = _kserve_models()
    if type_name in models:
        assert isinstance(value, dict), f"{where}: expected a {type_name} mapping"
        types, fields = models[type_name]
        by_json = {json_name: attribute for attribute, json_name in fields.items()}
        for key, item in value.items():
            assert key in by_json, f"{where}.{key}: not a field of KServe's {type_name}"
            validate_kserve(item, types[by_json[key]], f"{where}.{key}")
        return
    if type_name.startswith("V1"):
        name = type_name[2:]
        group = CORE_GROUPS.get(name, "io.k8s.api.core.v1")
        validate_core_type(value, f"{group}.{name}", where)
        return
    raise AssertionError(f"{where}: unknown type {type_name}")


def validate_names(document: dict[str, Any]) -> None:
    metadata = document["metadata"]
    assert DNS_LABEL.match(metadata["name"]), metadata["name"]
    if "namespace" in metadata:
        assert DNS_LABEL.match(metadata["namespace"]), metadata["namespace"]
    for key, value in metadata.get("labels", {}).items():
        prefix, _, name = key.rpartition("/")
        assert LABEL_NAME.match(name), key
        assert not prefix or len(prefix) <= 253, key
        assert LABEL_VALUE.match(value), value


def validate_manifest(document: dict[str, Any]) -> None:
    """Any object controlplane renders, against the schema its project publishes."""
    validate_names(document)
    kind = document["kind"]
    if kind in ("Deployment", "Service"):
        validate_core(document)
    elif kind == "InferenceService":
        assert document["apiVersion"] == "serving.kserve.io/v1beta1"
        validate_kserve(document, "V1beta1InferenceService", kind)
