"""Attribution (which applied commit to blame), breach onset, and the proposal's marker. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controlplane.history import AppliedChange
from controlplane.plan import ChangeKind
from controlplane.rollback.attribution import blame, covered_resources, onset
from controlplane.rollback.proposal import branch_name, marker_of
from tests.support.config import validate

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    commit_sha: str
    started_at: datetime
    result: str = "applied"
    changes: tuple[AppliedChange, ...] = ()
    author: str = "Dev <dev@example.com>"
    message: str = ""
    finished_at: datetime | None = field(default=None)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def change(kind: str, name: str) -> AppliedChange:
    return AppliedChange(ChangeKind.UPDATE, kind, name, "gateway")


COVERED = frozenset({("Route", "chat"), ("Model", "chat-v1"), ("Model", "chat-v2")})
HISTORY = [
    Row("a" * 40, at(0), changes=(change("Route", "chat"),), message="chat on v1"),
    Row("b" * 40, at(10), changes=(change("Model", "embed"),), message="unrelated model"),
    Row("c" * 40, at(20), changes=(change("Model", "chat-v2"), change("Route", "chat"))),
    Row("d" * 40, at(25), result="in-sync"),
    Row("e" * 40, at(30), result="failed", changes=(change("Route", "chat"),)),
    Row("f" * 40, at(40), changes=(change("Route", "chat"),), message="after the breach"),
]


def test_the_newest_covered_apply_before_the_breach_is_blamed() -> None:
    found = blame(HISTORY, COVERED, at(35))
    assert found is not None
    assert found.commit_sha == "c" * 40
    # b changed only another model; e failed; f came after the breach began
    assert found.changed == (("Model", "chat-v2"), ("Route", "chat"))
    assert found.previous_sha == "b" * 40  # the commit live before it


def test_a_breach_before_the_canary_blames_the_earlier_route_change() -> None:
    found = blame(HISTORY, COVERED, at(15))
    assert found is not None
    assert (found.commit_sha, found.previous_sha) == ("a" * 40, None)


def test_no_covered_change_before_the_breach_is_no_attribution() -> None:
    assert blame(HISTORY, COVERED, at(-1)) is None
    assert blame(HISTORY, frozenset({("Route", "search")}), at(100)) is None


def test_a_self_heal_reapply_of_the_same_commit_points_before_it() -> None:
    rows = [*HISTORY[:3], Row("c" * 40, at(22), changes=(change("Route", "chat"),))]
    found = blame(rows, COVERED, at(23))
    assert found is not None
    assert (found.commit_sha, found.previous_sha) == ("c" * 40, "b" * 40)


def test_covered_resources_follow_the_route_to_models_pools_and_guardrails(config: Path) -> None:
    state = validate(config, ["prod"]).states["prod"]
    covered = covered_resources(state, "chat")
    route = next(r for r in state.routes if r.name == "chat")
    assert ("Route", "chat") in covered
    assert {("Model", name) for _, name in route.model_refs()} <= covered
    assert {("Guardrail", g) for g in route.spec.guardrails} <= covered
    pools = {m.spec.pool for m in state.models if ("Model", m.name) in covered and m.spec.pool}
    assert pools
    assert {("GpuPool", p) for p in pools} <= covered
    assert not any(name == "chat" for kind, name in covered if kind == "Model")
    everything = covered_resources(state, "")
    assert covered <= everything


def test_onset_is_the_start_of_the_last_run_above_the_threshold() -> None:
    points = [(at(i), v) for i, v in enumerate([0.1, 0.9, 0.2, 0.3, 0.8, 0.9, 1.2])]
    assert onset(points, 0.5) == at(4)
    assert onset(points[:4], 0.5) is None  # the last point is within the threshold
    assert onset([(at(0), 0.7), (at(1), 0.9)], 0.5) == at(0)  # at or before the first
    gap = [(at(0), 0.9), (at(1), math.nan), (at(2), 0.9)]
    assert onset(gap, 0.5) == at(2)  # no data ends a run
    assert onset([], 0.5) is None


def test_branch_names_and_markers() -> None:
    assert branch_name("prod", "chat-slo", "0123456789abcdef" * 2) == (
        "rollback/prod/chat-slo/0123456789ab"
    )
    body = 'text\n<!-- controlplane:rollback {"commit": "c", "environment": "e"} -->\n'
    assert marker_of(body) == {"commit": "c", "environment": "e"}
    assert marker_of("a human's pull request") is None
    assert marker_of("<!-- controlplane:rollback {broken -->") is None
