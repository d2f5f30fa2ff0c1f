"""An experiment's report, pinned in text, Markdown and JSON: one winner, one loser, every
finding a comparison can have. `pytest --update-goldens` rewrites them; review the diff."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from controlplane.policy.dialects import GATEWAY
from controlplane.policy.experiment import ExperimentReport, Verdict, evaluate_experiment
from controlplane.render.experiment import (
    render_experiment_json,
    render_experiment_markdown,
    render_experiment_text,
)
from controlplane.spec import Experiment
from tests.support.experiments import ArmsSource, Truth, synthesize
from tests.support.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden"
START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def report() -> ExperimentReport:
    """Three variants over six hours: prompt-v2 better liked at no cost in speed, prompt-v3
    better liked but slower than the guardrail allows."""
    rng = np.random.default_rng(2026)
    arms = {
        "control": synthesize(Truth(per_minute=30), 360, rng),
        "prompt-v2": synthesize(Truth(per_minute=30, thumbs_up=0.78), 360, rng),
        "prompt-v3": synthesize(Truth(per_minute=30, thumbs_up=0.78, ttft=0.5), 360, rng),
    }
    experiment = Experiment.model_validate(
        {
            "apiVersion": "controlplane.dev/v1alpha1",
            "kind": "Experiment",
            "metadata": {"name": "chat-prompt"},
            "spec": {
                "route": "chat",
                "variants": ["control", "prompt-v2", "prompt-v3"],
                "primary": "thumbs-up",
                "guardrails": [
                    {"metric": "ttft", "tolerance": 10},
                    {"metric": "error-ratio", "tolerance": 0.5},
                    {"metric": "cost-per-1k", "tolerance": 20},
                ],
                "minSamplesPerGroup": 1000,
            },
        }
    )
    source = ArmsSource("chat", arms, START)
    return evaluate_experiment(
        experiment, GATEWAY, source, "prod", START + timedelta(hours=6, minutes=1), START
    )


def test_the_report_is_a_winner_and_a_loser() -> None:
    found = report()
    assert found.verdict is Verdict.WINNER
    assert found.winner == "prompt-v2"
    assert [t.verdict for t in found.treatments] == [Verdict.WINNER, Verdict.LOSER]


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("experiment.txt", render_experiment_text),
        ("experiment.md", render_experiment_markdown),
        ("experiment.json", render_experiment_json),
    ],
)
def test_experiment_report_goldens(
    request: pytest.FixtureRequest, name: str, render: Callable[[ExperimentReport], str]
) -> None:
    assert_golden(request, GOLDEN / name, render(report()))


def test_the_json_report_is_the_report() -> None:
    found = report()
    data = json.loads(render_experiment_json(found))
    assert ExperimentReport.model_validate(data) == found
    assert data["winner"] == "prompt-v2"
    assert data["queries"][0]["name"] == "requests"
