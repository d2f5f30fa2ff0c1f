"""The data plane's pure parts: keys, budgets and their periods, the stream guard, SSE replay."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controlplane.gateway.audit import AuditLog, AuditSettings, ContentLevel
from controlplane.gateway.auth import Caller, Denied, identify, key_hash, key_index
from controlplane.gateway.budgets import SpendLedger, Usage, period_bounds
from controlplane.gateway.guardrails import redact_pii
from controlplane.gateway.sse import completion_events
from controlplane.gateway.streaming import StreamGuard
from controlplane.spec import Budget, Consumer
from controlplane.spec.budget import Period

V = "controlplane.dev/v1alpha1"


def consumer(name: str, spec: dict[str, object]) -> Consumer:
    return Consumer.model_validate(
        {"apiVersion": V, "kind": "Consumer", "metadata": {"name": name}, "spec": spec}
    )


def budget(scope: dict[str, str], limit: float, *thresholds: tuple[float, str]) -> Budget:
    return Budget.model_validate(
        {
            "apiVersion": V,
            "kind": "Budget",
            "metadata": {"name": "b"},
            "spec": {
                "scope": scope,
                "period": "day",
                "limitUsd": limit,
                "thresholds": [{"percent": p, "action": a} for p, a in thresholds],
            },
        }
    )


def test_keys_by_hash_and_by_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTATED_KEY", "sk-next-key-123")
    app = consumer(
        "app",
        {
            "keys": [
                {"name": "old", "sha256": key_hash("sk-old-key-456")},
                {"name": "new", "secret": "env:ROTATED_KEY"},
                {"name": "gone", "secret": "env:NOT_SET_ANYWHERE"},
            ]
        },
    )
    index = key_index([app])
    assert len(index) == 2  # the unresolvable reference is skipped, not fatal
    assert identify("Bearer sk-old-key-456", index) == Caller(app, "old")
    assert identify("bearer  sk-next-key-123 ", index) == Caller(app, "new")
    assert identify(None, index) == Caller(None)
    for header in ("Bearer sk-unknown", "Basic abc", "Bearer "):
        with pytest.raises(Denied) as denied:
            identify(header, index)
        assert denied.value.status == 401


def test_periods_are_utc_days_and_months() -> None:
    moment = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    start, end = period_bounds(Period.MONTH, moment)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 12, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(end, UTC) == datetime(2027, 1, 1, tzinfo=UTC)
    start, end = period_bounds(Period.DAY, moment)
    assert end - start == 86_400


def test_spend_crosses_thresholds_once_and_resets_with_the_period(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp()]
    ledger = SpendLedger(tmp_path / "spend.json", clock=lambda: now[0])
    b = budget({"type": "team", "name": "t"}, 1.0, (50, "notify"), (100, "block"))
    usage = Usage("c", "t", "r", "m")
    assert list(ledger.add([b], usage, 0.6)) == [(b, 50)]
    assert list(ledger.add([b], usage, 0.1)) == []  # notified once a period
    assert ledger.verdict([b], usage).blocked_by is None
    list(ledger.add([b], usage, 0.4))
    verdict = ledger.verdict([b], usage)
    assert verdict.blocked_by == b
    assert "resets at 2026-11-26T00:00:00Z" in verdict.message()
    assert ledger.verdict([b], Usage("c", "other-team", "r", "m")).blocked_by is None
    ledger.save()
    assert SpendLedger(tmp_path / "spend.json", clock=lambda: now[0]).spent(b) == pytest.approx(1.1)
    now[0] += 86_400  # the next day
    assert ledger.verdict([b], usage).blocked_by is None


def test_a_corrupt_spend_file_starts_from_zero(tmp_path: Path) -> None:
    (tmp_path / "spend.json").write_text("{not json")
    b = budget({"type": "route", "name": "r"}, 1.0)
    assert SpendLedger(tmp_path / "spend.json").spent(b) == 0


def pii(text: str) -> str:
    return redact_pii(text, frozenset({"email", "phone"})).text


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50])
def test_the_stream_guard_sees_every_match_whole(size: int) -> None:
    text = (
        "Hello there, reach me at jane.roe@example.com or +1 415 555 0134 whenever you like; "
        "my colleague is john@corp.example.org and the office line is 020 7946 0958. " * 3
    )
    guard = StreamGuard(pii, hold=64)
    out = "".join(guard.feed(text[i : i + size]) for i in range(0, len(text), size))
    out += guard.flush()
    assert out == pii(text)
    assert "example" not in out
    assert "555" not in out
    assert "7946" not in out


def test_the_stream_guard_releases_text_before_the_end() -> None:
    guard = StreamGuard(pii, hold=32)
    released = guard.feed("word " * 40)
    assert 100 < len(released) < 200  # all but the held window


def test_a_whole_answer_replays_as_the_events_of_a_stream() -> None:
    data = {
        "id": "x",
        "created": 1,
        "model": "chat",
        "choices": [{"index": 0, "message": {"content": "one two three four five six"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7},
    }

    async def collect() -> list[bytes]:
        return [e async for e in completion_events(data, wants_usage=True)]

    events = asyncio.run(collect())
    assert events[-1] == b"data: [DONE]\n\n"
    chunks = [json.loads(e.decode().removeprefix("data: ")) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "one two three four five six"
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("level", "expected"),
    [("none", None), ("redacted", "mail [REDACTED:email]"), ("full", "mail a.b@example.com")],
)
def test_the_request_log_keeps_content_at_its_level(
    tmp_path: Path, level: str, expected: str | None
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(AuditSettings(path, ContentLevel(level), retention_days=3))
    threads = [
        threading.Thread(
            target=lambda i=i: log.write({"id": i}, lambda: ("mail a.b@example.com", "ok"))
        )
        for i in range(200)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == list(range(200))  # every one, whole
    assert lines[0].get("prompt") == expected
