"""The patch remediation: a minimal YAML edit that keeps comments and layout. Pure."""

from __future__ import annotations

import difflib
from pathlib import Path

from controlplane.rollback.patch import patch_route
from tests.support.config import REPO

ROUTES = """\
# yaml-language-server: $schema=../../schemas/route.json
# Chat: stable v1, and v2 as a canary while it proves itself.
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: search
spec:
  model: search-v1
---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: chat
spec:
  model: chat-v1     # the stable model
  canary:
    model: chat-v2   # under test
    percent: 25      # raised from 10 on Monday
  fallbacks: [gpt-4o-mini]
  guardrails:
    - pii-redact
    - prompt-injection
"""
BEFORE_CANARY = ROUTES.replace(
    "  canary:\n    model: chat-v2   # under test\n"
    "    percent: 25      # raised from 10 on Monday\n",
    "",
)


def changed_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_a_canary_introduced_by_the_commit_is_set_to_zero_and_nothing_else_moves() -> None:
    patch = patch_route({"routes.yaml": ROUTES}, "chat", {"routes.yaml": BEFORE_CANARY})
    assert patch is not None
    assert patch.path == "routes.yaml"
    assert "canary percent of route chat (model chat-v2) to 0" in patch.description
    assert changed_lines(ROUTES, patch.text) == [
        "-    percent: 25      # raised from 10 on Monday",
        "+    percent: 0       # raised from 10 on Monday",  # the comment keeps its column
    ]


def test_variants_changed_by_the_commit_are_restored_with_their_comments() -> None:
    old = ROUTES.replace(
        "  fallbacks: [gpt-4o-mini]\n",
        "  variants:\n    - {name: a, model: chat-v1, weight: 50}   # the control arm\n"
        "    - {name: b, model: chat-v3, weight: 50}\n  fallbacks: [gpt-4o-mini]\n",
    )
    new = old.replace("weight: 50}   # the control arm", "weight: 10}   # the control arm").replace(
        "chat-v3, weight: 50}", "chat-v3, weight: 90}"
    )
    patch = patch_route({"routes.yaml": new}, "chat", {"routes.yaml": old})
    assert patch is not None
    assert patch.description == "restored spec.variants of route chat"
    assert patch.text == old  # byte for byte, the comment on the control arm included


def test_no_patch_without_a_canary_or_a_change_to_take_back() -> None:
    assert (
        patch_route({"routes.yaml": BEFORE_CANARY}, "chat", {"routes.yaml": BEFORE_CANARY}) is None
    )
    assert patch_route({"routes.yaml": ROUTES}, "missing", {}) is None
    # the canary was not what the commit changed: the fallbacks were, so they go back
    old = ROUTES.replace("[gpt-4o-mini]", "[gpt-4o]")
    patch = patch_route({"routes.yaml": ROUTES}, "chat", {"routes.yaml": old})
    assert patch is not None
    assert changed_lines(ROUTES, patch.text) == [
        "-  fallbacks: [gpt-4o-mini]",
        "+  fallbacks: [gpt-4o]",
    ]


def test_the_shipped_staging_canary_patch_keeps_every_other_line() -> None:
    path = REPO / "environments/staging/routes.yaml"
    text = path.read_text()
    patch = patch_route({str(path): text}, "chat", {})
    assert patch is not None
    [removed, added] = changed_lines(text, patch.text)
    assert removed.strip() == "-    percent: 50"
    assert added.strip() == "+    percent: 0"
    assert Path(patch.path) == path
