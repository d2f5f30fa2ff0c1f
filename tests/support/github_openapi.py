"""GitHub's published OpenAPI description (npm @octokit/openapi), fetched from the npm registry
by the test setup, checked against the registry's integrity hash, cached, never committed.

`check_exchange` validates one HTTP exchange against it: the operation exists for the method and
path, the query parameters are the operation's, the JSON request body satisfies the request
schema in full, and the response's fields all exist in the response schema with the right types
(a stand-in answers a subset of fields, so `required` is not enforced on responses).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
MEMBER = "package/generated/api.github.com.json"


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "controlplane-tests" / f"octokit-openapi-{VERSION}"


@cache
def description() -> dict[str, Any]:
    target = _cache_dir() / "api.github.com.json"
    if not target.exists():
        try:
            meta = httpx.get(f"https://registry.npmjs.org/{PACKAGE}/{VERSION}", timeout=60).json()
            tarball = httpx.get(meta["dist"]["tarball"], timeout=300, follow_redirects=True)
            tarball.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            pytest.fail(
                f"cannot fetch {PACKAGE}@{VERSION} from the npm registry ({exc}); the forge "
                "client checks need GitHub's published OpenAPI description"
            )
        algorithm, expected = meta["dist"]["integrity"].split("-", 1)
        digest = base64.b64encode(hashlib.new(algorithm, tarball.content).digest()).decode()
        assert digest == expected, f"{PACKAGE}@{VERSION}: integrity mismatch"
        with tarfile.open(fileobj=io.BytesIO(tarball.content), mode="r:gz") as archive:
            member = archive.extractfile(MEMBER)
            assert member is not None, f"{MEMBER} missing from {PACKAGE}@{VERSION}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    loaded: dict[str, Any] = json.loads(target.read_text())
    return loaded


def _resolve(node: Any, seen: tuple[str, ...] = ()) -> Any:
    """Inline local $refs; a reference cycle becomes an open schema."""
    if isinstance(node, list):
        return [_resolve(n, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        if ref in seen:
            return {}
        target: Any = description()
        for part in ref[2:].split("/"):
            target = target[part]
        return _resolve(target, (*seen, ref))
    return {k: _resolve(v, seen) for k, v in node.items()}


def _loose(schema: Any) -> Any:
    """A response schema that accepts a subset of fields but no unknown field or wrong type."""
    if isinstance(schema, list):
        return [_loose(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _loose(v) for k, v in schema.items() if k != "required"}
    if "properties" in schema and "allOf" not in schema:
        out["additionalProperties"] = False
    return out


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, item in description()["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of GitHub's REST API")


def check_exchange(request: httpx.Request, response: httpx.Response) -> str:
    """Validate one exchange; returns the operationId."""
    template, op = operation(request.method, request.url.path)
    op = _resolve(op)
    names = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    unknown = set(request.url.params.keys()) - names
    assert not unknown, f"{op['operationId']}: unknown query parameters {unknown}"
    if request.content:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        OAS30Validator(schema).validate(json.loads(request.content))
    status = str(response.status_code)
    assert status in op["responses"], f"{op['operationId']}: no {status} response in {template}"
    content = op["responses"][status].get("content", {}).get("application/json")
    if content and response.content:
        OAS30Validator(_loose(content["schema"])).validate(response.json())
    return str(op["operationId"])
