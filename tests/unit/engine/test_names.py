"""The engine's names load on first use; each one the package declares is really there."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import controlplane.engine as engine

# Loaded while the tests are collected: gitpython runs `git version` when first imported, and the
# fast set may start no process once a test runs.
MODULES = {
    m: importlib.import_module(f"controlplane.engine.{m}") for m in set(engine._MODULE_OF.values())
}


def declared_for_type_checkers() -> dict[str, str]:
    tree = ast.parse(Path(engine.__file__).read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If))
    return {
        alias.name: str(node.module).rsplit(".", 1)[1]
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_every_name_loads_from_the_module_type_checkers_are_told() -> None:
    lazy = engine._MODULE_OF
    assert declared_for_type_checkers() == lazy
    for name, module in lazy.items():
        assert getattr(engine, name) is getattr(MODULES[module], name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = engine.nope
