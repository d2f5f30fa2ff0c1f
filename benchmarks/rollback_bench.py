"""Benchmark: from the first failing evaluation to the rollback pull request opened.

The end-to-end rollback scenario of the tests (tests/rollback_scenario.py), run N times: a real
`controlplane serve`, gateway, bare origin, forge stand-in (labelled; not GitHub) and Prometheus
backfilled with a TTFT breach that begins 3 s after the canary commit went live. The policy is
evaluated every INTERVAL with failAfter 1, so the first failing evaluation is the one that asks
for the PR. The forge is polled every 50 ms; the first failing evaluation's time comes from the
service's API. Goal: within one evaluation interval + 5 s.

Run: .venv/bin/python benchmarks/rollback_bench.py [--runs 3] [--interval 5s]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.rollback_scenario import POLICY, breach, rollback_scenario  # noqa: E402
from tests.support.service import service_running, wait_for  # noqa: E402


def one_run(tmp: Path, interval: str) -> tuple[float, float]:
    """(seconds from the first failing evaluation to the PR, evaluations that failed first)."""
    with (
        service_running(tmp) as service,
        rollback_scenario(service, tmp, interval=interval, fail_after=1) as scenario,
    ):
        assert scenario.canary_applied is not None
        onset = scenario.canary_applied + timedelta(seconds=3)
        with breach(scenario, tmp, onset):
            deadline = time.monotonic() + 120
            while not scenario.pulls():
                assert time.monotonic() < deadline, "no PR within 120 s"
                time.sleep(0.05)
            seen = datetime.now(UTC)
            wait_for("results", lambda: bool(service.api(f"/policies/{POLICY}/results")))
            results = service.api(f"/policies/{POLICY}/results?limit=1000")["results"]
            fails = [datetime.fromisoformat(r["at"]) for r in results if r["outcome"] == "fail"]
            assert len(scenario.pulls()) == 1
            return (seen - min(fails)).total_seconds(), len(fails)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", default="5s", help="policy interval (a Duration)")
    args = parser.parse_args()
    seconds = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as name:
            elapsed, fails = one_run(Path(name), args.interval)
        seconds.append(elapsed)
        print(
            f"run {run + 1}: first failing evaluation → PR opened in {elapsed:.2f} s "
            f"({fails} failing evaluation(s) recorded by then)",
            flush=True,
        )
    print(
        f"interval {args.interval}, failAfter 1, {args.runs} runs: median "
        f"{statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
        f"(goal: interval + 5 s)"
    )


if __name__ == "__main__":
    main()
