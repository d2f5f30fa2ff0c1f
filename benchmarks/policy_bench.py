"""Benchmark: one scheduler tick of 1,000 policies against one Prometheus.

Backfills a Prometheus on 127.0.0.1 (promtool) with 70 minutes of per-minute request counters
for N routes, then evaluates N SLO policies (an availability objective with the 30-day
burn-rate preset: 6 windows, 2 queries each) at one explicit time, first one query per question,
then batched (one query per shape for all routes), in one run. Reports time per tick and queries.

Run: .venv/bin/python benchmarks/policy_bench.py [--policies 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.policy import Outcome, evaluate_state
from controlplane.prometheus import BatchingSource, PrometheusClient
from controlplane.spec import DesiredState, Environment, Route
from controlplane.spec.policy import SLOPolicy
from tests.support.prometheus import History, prometheus

END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
V = "controlplane.dev/v1alpha1"


def doc(kind: type[Any], name: str, spec: dict[str, Any]) -> Any:
    return kind.model_validate(
        {"apiVersion": V, "kind": kind.KIND, "metadata": {"name": name}, "spec": spec}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=1000)
    args = parser.parse_args()
    n = args.policies
    history = History()
    start = END - timedelta(minutes=70)
    for r in range(n):
        for minute in range(71):
            at = (start + timedelta(minutes=minute)).timestamp()
            labels = {"route": f"r{r}", "variant": "default", "model": "m"}
            history.counter("llm_gateway_requests", {**labels, "status": "200"}, at, 100 * minute)
            history.counter(
                "llm_gateway_requests",
                {**labels, "status": "500"},
                at,
                minute * (5 if r % 10 == 0 else 0),
            )
    env = doc(Environment, "bench", {"targets": [{"type": "gateway", "url": "http://x"}]})
    routes = tuple(doc(Route, f"r{r}", {"model": "m"}) for r in range(n))
    policies = tuple(
        doc(
            SLOPolicy,
            f"slo-{r}",
            {
                "selector": {"routes": [f"r{r}"]},
                "objectives": [{"name": "availability", "sli": {"type": "errors"}, "target": 99.9}],
            },
        )
        for r in range(n)
    )
    state = DesiredState(environment=env, routes=routes, slo_policies=policies)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        with prometheus(Path(tmp), history) as url:
            backfill = time.perf_counter() - began
            rows = []
            for name, source in (
                ("one query per question", PrometheusClient(url)),
                ("batched by shape", BatchingSource(PrometheusClient(url))),
            ):
                began = time.perf_counter()
                results = evaluate_state(state, source, END)
                elapsed = time.perf_counter() - began
                queries = (
                    source.queries if isinstance(source, PrometheusClient) else source.inner.queries
                )
                fails = sum(r.outcome is Outcome.FAIL for r in results)
                rows.append((name, elapsed, queries, len(results), fails))
    print(f"{n} SLO policies, one route each; Prometheus backfilled in {backfill:.1f} s")
    print("| queries | time per tick | Prometheus queries | results | failing |")
    print("|---|---|---|---|---|")
    for name, elapsed, queries, count, fails in rows:
        print(f"| {name} | {elapsed:.2f} s | {queries:,} | {count:,} | {fails} |")


if __name__ == "__main__":
    main()
