"""The error tree: every ControlPlaneError subclass lives in errors.py and is drawn, with its
parent, in that module's docstring."""

from __future__ import annotations

import importlib
import pkgutil
import re

import controlplane
from controlplane import errors
from controlplane.errors import ControlPlaneError

# "    │   ├── TargetConflict  ..." -> (depth, name)
NODE = re.compile(r"^(?P<indent>[ │]*)(?:[├└]── )?(?P<name>[A-Z]\w+)")


def drawn_parents() -> dict[str, str]:
    """Each class in the docstring's tree, by the name of the class it hangs under."""
    docstring = errors.__doc__ or ""
    tree = docstring.split("::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in tree.splitlines():
        found = NODE.match(line.strip("\n"))
        assert found, f"not a node of the tree: {line!r}"
        depth = len(found.group("indent")) + (4 if "──" in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[found.group("name")] = stack[-1][1]
        stack.append((depth, found.group("name")))
    return parents


def every_subclass() -> set[type[ControlPlaneError]]:
    for module in pkgutil.walk_packages(controlplane.__path__, "controlplane."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)  # subclasses exist once their module is loaded
    found: set[type[ControlPlaneError]] = set()
    pending: list[type[ControlPlaneError]] = [ControlPlaneError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.add(sub)
            pending.append(sub)
    return found


def test_every_error_class_is_in_errors_py_and_drawn_under_its_parent() -> None:
    drawn = drawn_parents()
    classes = every_subclass()
    assert {c.__module__ for c in classes} == {"controlplane.errors"}
    actual = {c.__name__: c.__bases__[0].__name__ for c in classes}
    assert len(actual) >= 15
    assert drawn == actual  # a class missing from the drawing, or under the wrong parent, fails
