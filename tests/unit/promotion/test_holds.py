"""Holds: the desired state with a held canary at 0 percent. Pure."""

from __future__ import annotations

from controlplane.engine import desired_state
from controlplane.promotion.holds import held_state
from tests.support.config import REPO


def test_a_held_route_has_its_canary_at_zero_and_nothing_else_changes() -> None:
    state = desired_state(REPO, "prod")
    [chat] = [r for r in state.routes if r.name == "chat"]
    assert chat.spec.canary is not None
    assert chat.spec.canary.percent > 0
    held = held_state(state, ["chat"])
    [after] = [r for r in held.routes if r.name == "chat"]
    assert after.spec.canary is not None
    assert (after.spec.canary.model, after.spec.canary.percent) == (chat.spec.canary.model, 0)
    assert after.spec.model_copy(update={"canary": chat.spec.canary}) == chat.spec
    assert [r for r in held.routes if r.name != "chat"] == [
        r for r in state.routes if r.name != "chat"
    ]
    assert held.models == state.models
    assert held.environment == state.environment


def test_no_hold_or_a_route_without_canary_is_the_same_state() -> None:
    state = desired_state(REPO, "prod")
    assert held_state(state, []) is state
    assert held_state(state, ["no-such-route"]) is state
