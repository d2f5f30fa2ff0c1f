"""Shipping an experiment's winner: the route serves the winning model alone, every comment that
still means something stays where it was, and the experiment leaves the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.config.documents import parse_documents
from controlplane.promotion.winner import retire_experiment, ship_winner
from controlplane.spec import Route
from tests.support.config import validate

ROUTES = """# yaml-language-server: $schema=../../schemas/route.json
# Clients call model "chat": an A/B test of two prompts.
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: chat
spec:
  model: chat-small  # the default
  # two arms, sticky per user
  variants:
    - name: control
      model: chat-small
      weight: 50
    - name: prompt-v2   # the new prompt
      model: chat-small-v2
      weight: 50
  # keep each user in one arm
  stickiness:
    key: header:x-user-id
  fallbacks: [gpt-4o-mini]  # when all else fails
---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: other
spec:
  model: chat-small
  variants:
    - {name: control, model: chat-small, weight: 100}
"""
SHIPPED = """# yaml-language-server: $schema=../../schemas/route.json
# Clients call model "chat": an A/B test of two prompts.
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: chat
spec:
  model: chat-small-v2 # the default
  # keep each user in one arm
  stickiness:
    key: header:x-user-id
  fallbacks: [gpt-4o-mini]  # when all else fails
---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata:
  name: other
spec:
  model: chat-small
  variants:
    - {name: control, model: chat-small, weight: 100}
"""


def test_the_winner_ships_with_the_comments_kept() -> None:
    edit = ship_winner({"environments/prod/routes.yaml": ROUTES}, "chat", "prompt-v2")
    assert edit is not None
    assert edit.path == "environments/prod/routes.yaml"
    assert edit.text == SHIPPED
    assert "route chat serves chat-small-v2 (variant prompt-v2" in edit.description
    documents, problems = parse_documents(edit.path, edit.text)
    assert problems == []
    route = Route.model_validate(documents[0].data)
    assert route.spec.model == "chat-small-v2"
    assert route.spec.variants == []


def test_flow_style_variants_keep_the_comment_of_the_next_field() -> None:
    text = ROUTES.replace(
        """  variants:
    - name: control
      model: chat-small
      weight: 50
    - name: prompt-v2   # the new prompt
      model: chat-small-v2
      weight: 50
""",
        """  variants:
    - {name: control, model: chat-small, weight: 50}
    - {name: prompt-v2, model: chat-small-v2, weight: 50}  # the new prompt
""",
    ).replace(
        "  model: chat-small  # the default\n  # two arms, sticky per user\n",
        "  model: chat-small\n",
    )
    edit = ship_winner({"routes.yaml": text}, "chat", "control")
    assert edit is not None
    assert edit.text is not None
    assert "  model: chat-small\n  # keep each user in one arm\n  stickiness:" in edit.text
    assert "the new prompt" not in edit.text


@pytest.mark.parametrize(("route", "variant"), [("chat", "prompt-v9"), ("nope", "control")])
def test_nothing_to_ship(route: str, variant: str) -> None:
    assert ship_winner({"routes.yaml": ROUTES}, route, variant) is None


EXPERIMENT = """# yaml-language-server: $schema=../schemas/experiment.json
# Which prompt do users like better?
apiVersion: controlplane.dev/v1alpha1
kind: Experiment
metadata:
  name: chat-prompt
spec:
  selector:
    environments: [staging, prod]  # staging first
  route: chat
  variants: [control, prompt-v2]
  primary: thumbs-up
"""


def test_the_experiment_leaves_the_environment_its_winner_shipped_in() -> None:
    edit = retire_experiment({"policies/chat.yaml": EXPERIMENT}, "chat-prompt", "prod")
    assert edit is not None
    assert edit.text is not None
    assert "environments: [staging]" in edit.text
    assert "# Which prompt do users like better?" in edit.text
    assert "# staging first" in edit.text
    alone = EXPERIMENT.replace("[staging, prod]", "[prod]")
    gone = retire_experiment({"policies/chat.yaml": alone}, "chat-prompt", "prod")
    assert gone is not None
    assert gone.text is None  # the file held nothing else
    assert retire_experiment({"policies/chat.yaml": alone}, "other", "prod") is None


def test_both_edits_leave_a_valid_config(config: Path) -> None:
    """The shipped dev config with a two-variant route and an experiment on it, after both
    edits: valid, the route on the winner, no experiment left."""
    routes = config / "environments/dev/routes.yaml"
    routes.write_text(
        routes.read_text().replace(
            "  model: chat-small\n",
            "  model: chat-small\n  variants:\n"
            "    - {name: control, model: chat-small, weight: 50}\n"
            "    - {name: prompt-v2, model: gpt-4o-mini, weight: 50}\n",
        )
    )
    policy = config / "policies/experiment.yaml"
    policy.write_text(
        EXPERIMENT.replace("[staging, prod]", "[dev]").replace("thumbs-up", "judge-score")
    )
    assert validate(config).ok
    shipped = ship_winner({"environments/dev/routes.yaml": routes.read_text()}, "chat", "prompt-v2")
    retired = retire_experiment(
        {"policies/experiment.yaml": policy.read_text()}, "chat-prompt", "dev"
    )
    assert shipped is not None
    assert shipped.text is not None
    assert retired is not None
    assert retired.text is None
    routes.write_text(shipped.text)
    policy.unlink()
    result = validate(config)
    assert result.problems == ()
    route = result.states["dev"].routes[0]
    assert route.spec.model == "gpt-4o-mini"
    assert route.spec.fallbacks == []  # the winner was the fallback: not its own
    assert result.states["dev"].experiments == ()
