"""The committed JSON Schemas: current, documented, and usable by editors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from controlplane.cli import main
from controlplane.schema import render_schema_files
from tests.support.config import REPO


def test_committed_schemas_are_current() -> None:
    assert main(["schemas", "--check", "--dir", str(REPO / "schemas")]) == 0


def test_check_fails_when_a_schema_is_stale_missing_or_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "schemas"
    assert main(["schemas", "--dir", str(folder)]) == 0
    assert main(["schemas", "--check", "--dir", str(folder)]) == 0

    route = folder / "route.json"
    route.write_text(route.read_text().replace("Percent of traffic", "Share of traffic"))
    assert main(["schemas", "--check", "--dir", str(folder)]) == 1
    assert "route.json: stale or missing" in capsys.readouterr().err

    assert main(["schemas", "--dir", str(folder)]) == 0
    (folder / "model.json").unlink()
    assert main(["schemas", "--check", "--dir", str(folder)]) == 1

    assert main(["schemas", "--dir", str(folder)]) == 0
    reference = folder / "REFERENCE.md"
    reference.write_text(reference.read_text().replace("## Route", "## Routes"))
    assert main(["schemas", "--check", "--dir", str(folder)]) == 1
    assert "REFERENCE.md: stale or missing" in capsys.readouterr().err

    assert main(["schemas", "--dir", str(folder)]) == 0
    (folder / "old-kind.json").write_text("{}")
    assert main(["schemas", "--check", "--dir", str(folder)]) == 1
    assert "old-kind.json: not generated" in capsys.readouterr().err


def _properties(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield f"{where}.{name}", sub
        for key, sub in schema.items():
            if key not in ("properties", "if"):  # "if" holds conditions, not fields
                yield from _properties(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from _properties(sub, f"{where}[{i}]")


def test_every_field_has_a_description() -> None:
    undocumented = [
        f"{name}: {where}"
        for name, text in render_schema_files().items()
        for where, prop in _properties(json.loads(text), "")
        if "description" not in prop
    ]
    assert undocumented == []


def _registry() -> Registry:
    schemas = {name: json.loads(text) for name, text in render_schema_files().items()}
    return Registry().with_resources(
        (body["$id"], Resource.from_contents(body)) for body in schemas.values()
    )


MODELINE = "# yaml-language-server: $schema="


@pytest.mark.parametrize(
    "file",
    sorted(
        str(p.relative_to(REPO))
        for p in REPO.glob("*/**/*.yaml")
        if p.parts[len(REPO.parts)] in ("environments", "policies")
    ),
)
def test_example_files_carry_a_modeline_to_a_schema_that_accepts_them(file: str) -> None:
    path = REPO / file
    first = path.read_text().splitlines()[0]
    assert first.startswith(MODELINE), f"{file} has no schema modeline"
    target = (path.parent / first.removeprefix(MODELINE)).resolve()
    assert target.is_file(), f"{file}: modeline points at missing {target}"
    schema = json.loads(target.read_text())
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    for document in yaml.safe_load_all(path.read_text()):
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], f"{file}: {errors}"


def test_the_any_kind_schema_dispatches_on_kind() -> None:
    schema = json.loads(render_schema_files()["controlplane.json"])
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    good = yaml.safe_load((REPO / "environments/prod/pools.yaml").read_text().split("---")[0])
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "spec": {**good["spec"], "gpusPerNode": 0}}
    assert list(validator.iter_errors(bad)) != []
    assert list(validator.iter_errors({**good, "kind": "Nope"})) != []
