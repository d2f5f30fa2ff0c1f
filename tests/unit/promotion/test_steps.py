"""Canary steps: where the next promotion goes, and the edit that takes it there. Pure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane.errors import Problem
from controlplane.promotion.steps import promote_canary
from controlplane.spec.route import Canary
from tests.support.config import REPO, validate

ROUTES = """\
# Chat: stable v1, and v2 as a canary while it proves itself.
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: chat
spec:
  model: chat-v1     # the stable model
  canary:
    model: chat-v2   # under test
    percent: 10      # first step
    steps: [10, 50, 100]
  fallbacks: [gpt-4o-mini]
"""
FILES = {"environments/prod/routes.yaml": ROUTES}


@pytest.mark.parametrize(
    ("percent", "steps", "expected"),
    [
        (10, [10, 50, 100], (50, False)),
        (50, [10, 50, 100], (100, False)),
        (100, [10, 50, 100], (100, True)),  # from the last step: the canary becomes the model
        (50, [10, 50], (100, True)),
        (25, [10, 50], None),  # off the steps: nothing to promote to
        (0, [10, 50], None),  # stopped (a rollback leaves it at 0)
        (10, [], None),
    ],
)
def test_the_next_step(percent: float, steps: list[float], expected: object) -> None:
    assert Canary(model="m", percent=percent, steps=steps).next_step == expected


def test_a_step_edits_only_the_percent_and_keeps_comments() -> None:
    patch = promote_canary(FILES, "chat", "chat-v2", 10, 50, final=False)
    assert patch is not None
    assert patch.path == "environments/prod/routes.yaml"
    assert patch.text == ROUTES.replace(
        "percent: 10      # first step", "percent: 50      # first step"
    )
    assert patch.description == "move the canary chat-v2 of route chat from 10% to 50%"


def test_the_final_step_makes_the_canary_the_routes_model() -> None:
    patch = promote_canary(FILES, "chat", "chat-v2", 10, 100, final=True)
    assert patch is not None
    assert "model: chat-v2" in patch.text
    assert "canary" not in patch.text.split("spec:")[1]
    assert "# Chat: stable v1" in patch.text
    assert "fallbacks: [gpt-4o-mini]" in patch.text
    assert (
        patch.description == "make chat-v2 the model of route chat (was chat-v1) and end its canary"
    )


@pytest.mark.parametrize(
    ("model", "percent"), [("chat-v3", 10), ("chat-v2", 50)], ids=["other-model", "moved"]
)
def test_nothing_to_promote_when_the_files_moved_on(model: str, percent: float) -> None:
    assert promote_canary(FILES, "chat", model, percent, 100, final=False) is None
    assert promote_canary(FILES, "search", "chat-v2", 10, 50, final=False) is None


def test_steps_must_ascend_and_hold_the_percent(tmp_path: Path) -> None:
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    routes = tmp_path / "environments/prod/routes.yaml"
    original = routes.read_text()
    assert "    percent: 10\n" in original

    def problems(canary: str) -> list[Problem]:
        routes.write_text(original.replace("    percent: 10\n", canary, 1))
        return [p for p in validate(tmp_path).problems if p.rule == "canary"]

    assert problems("    percent: 10\n    steps: [10, 50, 100]\n") == []
    assert problems("    percent: 0\n    steps: [10, 50, 100]\n") == []
    [unordered] = problems("    percent: 10\n    steps: [10, 100, 50]\n")
    assert "steps 10, 100, 50" in unordered.message
    assert "ascending" in unordered.message
    assert unordered.file.endswith("routes.yaml")
    assert unordered.line > 0
    [off] = problems("    percent: 20\n    steps: [10, 50, 100]\n")
    assert "20, which is not one of the steps (10, 50, 100)" in off.message
