"""The plan engine: pure, ordered, deterministic, and an exact inverse of the live state."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane import engine
from controlplane.plan import (
    ChangeKind,
    Plan,
    compute_plan,
    document_of,
    simulate,
)
from controlplane.render import render_plan_json, render_plan_markdown, render_plan_text
from controlplane.spec import LIVE_KINDS, DesiredState, LiveState, Resource
from controlplane.spec.state import MANAGED_BY, MANAGER
from controlplane.validate import validate_config
from tests.support.config import REPO

PROD = validate_config(engine.load(REPO)).states["prod"]


def owned(resource: Resource) -> Resource:
    annotations = {**resource.metadata.annotations, MANAGED_BY: MANAGER}
    metadata = resource.metadata.model_copy(update={"annotations": annotations})
    return resource.model_copy(update={"metadata": metadata})


def live_of(state: DesiredState) -> LiveState:
    """What a target would hold had it applied `state`: the live kinds, marked as ours."""
    live_kinds = tuple(LIVE_KINDS)
    return LiveState(
        resources=tuple(owned(r) for r in state.resources() if isinstance(r, live_kinds))
    )


R = TypeVar("R", bound=Resource)


def with_spec(resource: R, **update: Any) -> R:
    spec: Any = getattr(resource, "spec")  # noqa: B009 (every kind has one; the envelope does not say)
    return resource.model_copy(update={"spec": spec.model_copy(update=update)})


def test_from_nothing_everything_is_created_in_dependency_order() -> None:
    plan = compute_plan(PROD, LiveState(resources=()))
    assert {c.action for c in plan.changes} == {ChangeKind.CREATE}
    kinds = [c.kind for c in plan.changes]
    assert kinds == sorted(kinds, key=[k.KIND for k in LIVE_KINDS].index)
    assert kinds[0] == "GpuPool"
    assert kinds[-1] == "Consumer"  # after the routes it may call
    assert "Environment" not in kinds
    assert plan.capacity.gpus_before == 0
    assert plan.capacity.gpus_after == 4 + 4 + 2  # chat-v1, chat-v2, chat-small


def test_no_changes_against_itself() -> None:
    assert compute_plan(PROD, live_of(PROD)).empty


def test_one_field_changed_is_exactly_one_change() -> None:
    route = PROD.routes[0]
    assert route.spec.canary is not None
    canary = route.spec.canary.model_copy(update={"percent": 25})
    desired = replace(PROD, routes=(with_spec(route, canary=canary),))
    plan = compute_plan(desired, live_of(PROD))
    [change] = plan.changes
    assert (change.action, change.ref) == (ChangeKind.UPDATE, "Route/chat")
    [field] = change.fields
    assert (field.path, field.old, field.new) == ("spec.canary.percent", 10, 25)


def test_deletes_follow_upserts_in_reverse_dependency_order() -> None:
    # Replace chat-v2 by chat-v3: the route moves first, and the old model goes last.
    old = next(m for m in PROD.models if m.name == "chat-v2")
    new = old.model_copy(update={"metadata": old.metadata.model_copy(update={"name": "chat-v3"})})
    route = PROD.routes[0]
    assert route.spec.canary is not None
    route = with_spec(route, canary=route.spec.canary.model_copy(update={"model": "chat-v3"}))
    models = (*tuple(m for m in PROD.models if m.name != "chat-v2"), new)
    budgets = PROD.budgets[1:]
    desired = replace(PROD, models=models, routes=(route,), budgets=budgets)
    plan = compute_plan(desired, live_of(PROD))
    assert [(c.action.value, c.ref) for c in plan.changes] == [
        ("create", "Model/chat-v3"),
        ("update", "Route/chat"),
        ("delete", "Budget/chat-daily"),
        ("delete", "Model/chat-v2"),
    ]


def test_no_deletes_without_prune() -> None:
    spec = PROD.environment.spec.model_copy(update={"prune": False})
    desired = replace(
        PROD, environment=PROD.environment.model_copy(update={"spec": spec}), budgets=()
    )
    plan = compute_plan(desired, live_of(PROD))
    assert plan.empty
    assert {(s.kind, s.reason) for s in plan.skipped} == {("Budget", "prune is off")}


def test_objects_controlplane_did_not_create_are_never_deleted() -> None:
    foreign = PROD.models[0].model_copy(
        update={"metadata": PROD.models[0].metadata.model_copy(update={"name": "hand-made"})}
    )
    live = LiveState(resources=(*live_of(PROD).resources, foreign))
    plan = compute_plan(PROD, live)
    assert plan.empty
    assert [(s.name, s.reason) for s in plan.skipped] == [
        ("hand-made", "not created by controlplane")
    ]


def test_an_unowned_object_in_git_is_adopted() -> None:
    live = LiveState(resources=tuple(PROD.resources()))  # same content, no ownership marker
    plan = compute_plan(PROD, live)
    assert {c.action for c in plan.changes} == {ChangeKind.UPDATE}
    assert all(c.fields == () for c in plan.changes)
    assert simulate(plan, live).resources
    assert compute_plan(PROD, simulate(plan, live)).empty


def test_bookkeeping_annotations_are_not_diffed() -> None:
    live = live_of(PROD)
    assert all(MANAGED_BY not in document_of(r)["metadata"]["annotations"] for r in live.resources)


def test_gpu_and_cost_delta() -> None:
    model = next(m for m in PROD.models if m.name == "chat-v1")
    models = tuple(with_spec(m, replicas=2) if m is model else m for m in PROD.models)
    plan = compute_plan(replace(PROD, models=models), live_of(PROD))
    assert plan.capacity.gpu_delta == 4
    assert plan.capacity.usd_per_month_delta == pytest.approx(4 * 4.11 * 730, abs=0.01)
    assert "GPUs 10 → 14 (+4), $/month 25,170 → 37,172 (+12,001)" in render_plan_markdown(plan)


# --- properties -------------------------------------------------------------------------------


@st.composite
def states(draw: st.DrawFn) -> DesiredState:
    """Subsets of the shipped prod state, with some models and routes changed."""

    def pick(items: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(x for x in items if draw(st.booleans()))

    models = tuple(
        with_spec(m, replicas=draw(st.integers(0, 3))) if draw(st.booleans()) else m
        for m in pick(PROD.models)
    )
    routes = tuple(
        with_spec(r, timeout=r.spec.timeout * draw(st.integers(1, 3))) for r in pick(PROD.routes)
    )
    return replace(
        PROD,
        pools=pick(PROD.pools),
        models=models,
        guardrails=pick(PROD.guardrails),
        budgets=pick(PROD.budgets),
        routes=routes,
    )


def documents(live: LiveState) -> dict[tuple[str, str], Any]:
    return {(r.KIND, r.name): document_of(r) for r in live.resources}


def desired_documents(state: DesiredState) -> dict[tuple[str, str], Any]:
    kinds = {k.KIND for k in LIVE_KINDS}
    return {(r.KIND, r.name): document_of(r) for r in state.resources() if r.KIND in kinds}


@settings(max_examples=150, deadline=None)
@given(states())
def test_plan_of_a_state_against_itself_is_empty(state: DesiredState) -> None:
    assert compute_plan(state, live_of(state)).empty


@settings(max_examples=150, deadline=None)
@given(states(), states())
def test_applying_plan_a_b_to_b_gives_a(a: DesiredState, b: DesiredState) -> None:
    live = live_of(b)
    plan = compute_plan(a, live)
    after = simulate(plan, live)
    assert documents(after) == desired_documents(a)
    assert compute_plan(a, after).empty


@settings(max_examples=50, deadline=None)
@given(states(), states())
def test_plans_and_renderings_are_deterministic(a: DesiredState, b: DesiredState) -> None:
    first, second = compute_plan(a, live_of(b)), compute_plan(a, live_of(b))
    assert render_plan_json(first) == render_plan_json(second)
    assert render_plan_text(first) == render_plan_text(second)
    assert render_plan_markdown(first) == render_plan_markdown(second)
    body = json.loads(render_plan_json(first))
    del body["summary"]
    assert Plan.model_validate(body) == first  # the JSON is the whole plan
