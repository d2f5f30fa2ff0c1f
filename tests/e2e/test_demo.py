"""`controlplane demo` runs the whole loop to the end and stops everything it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.prometheus import require_prometheus

pytestmark = pytest.mark.integration
STAGES = [
    r"seeded a bare git repo with the shipped config: main at [0-9a-f]{12}",
    r"started two SIMULATED model servers",
    r"started the gateway http://127\.0\.0\.1:\d+ and the forge STAND-IN",
    r"started Prometheus http://127\.0\.0\.1:\d+ .* and controlplane serve",
    r"reconciled main: route chat serves chat-small",
    r"pushed [0-9a-f]{12} 'Canary chat-canary at 30% on chat' \+ signed webhook: live canary "
    r"chat-canary at 30%",
    r"sending up to 400 streamed requests",
    r"policy demo-latency: FAIL \(p99 \d+ ms, above 300 ms over 20s\)",
    r"rollback PR #1 opened: Rollback dev: demo-latency failed; revert [0-9a-f]{12} Canary",
    r"labels: rollback, env:dev",
    r"Breach started: \S+ \(range query of ttft p99 crossing its threshold\)",
    r"Blamed commit: `[0-9a-f]{40}` by Demo Dev <dev@demo\.local>: Canary chat-canary",
    r"\| ~ \| `Route/chat` \| `spec\.canary`",
    r"merged PR #1 as [0-9a-f]{12}; the forge sent the webhook",
    r"route chat is back on chat-small, without the canary",
    r"a request now: served by chat-small",
    r"pushed [0-9a-f]{12} 'Cache and cascade on chat'",
    r"'What is the capital of France\?': cache miss, answered by chat-small",
    r"'What is the capital of France\?': cache hit, answered by the cache",
    r"\"What's the capital city of France\?\": cache hit, answered by the cache",
    r"'A hard one: prove there are infinitely many primes\.': cache miss, answered by chat-large",
    r"the request log holds \d+ lines",
    r"done: every process stopped",
]


def test_the_demo_runs_every_stage_and_leaves_nothing_running() -> None:
    require_prometheus()
    done = subprocess.run(
        [sys.executable, "-m", "controlplane", "demo", "--requests", "400"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    position = 0
    for stage in STAGES:  # every stage, in this order
        found = re.compile(stage).search(done.stdout, position)
        assert found, f"missing stage {stage!r} after:\n{done.stdout[position:]}"
        position = found.end()
    seconds = float(re.findall(r"^\[\s*([0-9.]+)s\] done", done.stdout, re.M)[0])
    assert seconds < 180
    assert_nothing_left(done.stdout)


@pytest.mark.parametrize(
    "how",
    [
        "ctrl-c",  # a terminal sends SIGINT to the whole foreground process group
        "kill",  # SIGTERM to the demo alone: it must stop its children itself
    ],
)
def test_an_interrupted_demo_stops_everything(how: str, tmp_path: Path) -> None:
    require_prometheus()
    out = tmp_path / "demo.out"
    with out.open("w") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "controlplane", "demo", "--requests", "400"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while "reconciled main" not in out.read_text():  # every process is up by then
                assert demo.poll() is None, out.read_text()
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.2)
            if how == "ctrl-c":
                os.killpg(demo.pid, signal.SIGINT)
            else:
                demo.terminate()
            assert demo.wait(timeout=60) == 130, out.read_text()
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
    text = out.read_text()
    assert "interrupted: every process was stopped" in text
    assert_nothing_left(text)


def assert_nothing_left(output: str) -> None:
    """No URL the demo printed answers, and its temporary folder is gone."""
    for url in set(re.findall(r"http://127\.0\.0\.1:\d+", output)):
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)
    working = re.search(r"working in (\S+)", output)
    assert working
    assert not Path(working.group(1)).exists()
