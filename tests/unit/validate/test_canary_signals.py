"""A canary check on a metric the environment's serving layer does not export is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.config import REPO, edit, validate


def test_an_errors_or_feedback_check_needs_a_dialect_that_records_it(tmp_path: Path) -> None:
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    policy = "policies/canary-chat.yaml"
    edit(tmp_path, policy, "  errors:\n", "  feedback: {allowedIncreasePoints: 3}\n  errors:\n")
    assert [p for p in validate(tmp_path).problems if p.rule == "policy"] == []
    edit(tmp_path, "environments/prod/environment.yaml", "dialect: gateway", "dialect: vllm")
    found = [p for p in validate(tmp_path).problems if p.rule == "policy"]
    assert {(p.path, p.file) for p in found} == {
        ("spec.errors", policy),
        ("spec.feedback", policy),
    }
    assert all("it is not supported by that target" in p.message for p in found)
    assert all("environment 'prod', whose vllm metrics" in p.message for p in found)
