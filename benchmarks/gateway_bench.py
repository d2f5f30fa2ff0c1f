"""Benchmark: latency and CPU through the embedded gateway, against calling the upstream directly
and, optionally, against the gateway of another source tree (a baseline), side by side.

Starts the upstream SIMULATOR and the gateway (and with --baseline-src DIR a second gateway run
from DIR, e.g. a `git worktree` of the previous release) on 127.0.0.1, configures each through
its admin API with a realistic route (a consumer key where the gateway knows consumers, a rate
limit, PII guardrails on input and output, sticky hashing, metrics, the request log at the
metadata level), then sends the same open-loop load in interleaved rounds: each round sends its
share of requests straight to the simulator, then through each gateway, so machine noise hits
every side alike. Reports p50/p90/p99, the latency each gateway adds, and the CPU time each
gateway process spent per 1,000 requests (from /proc/<pid>/stat, far steadier than wall time on
a shared machine).

Run: .venv/bin/python benchmarks/gateway_bench.py [--rate 50] [--requests 1000] [--rounds 5]
     [--stream] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.gateway.auth import key_hash
from controlplane.testing.processes import controlplane, free_port
from tests.support.processes import TOKEN, simulator
from tests.support.processes import put_resource as put

V = "controlplane.dev/v1alpha1"
KEY = "sk-bench-consumer-key"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def configure(url: str, upstream: str) -> bool:
    """The realistic route; True when the gateway checks consumer keys (older ones do not)."""
    model = {
        "baseModel": "sim",
        "framework": "openai-compatible",
        "endpoint": f"{upstream}/v1",
        "pricing": {"inputPer1M": 0.1, "outputPer1M": 0.3},
    }
    put(url, "Model", "sim", model).raise_for_status()
    for name, stage in (("pii-in", "input"), ("pii-out", "output")):
        guardrail = {"type": "pii", "stage": stage, "action": "redact", "entities": ["email"]}
        put(url, "Guardrail", name, guardrail).raise_for_status()
    route = {
        "model": "sim",
        "stickiness": {"key": "user"},
        "guardrails": ["pii-in", "pii-out"],
        "rateLimits": {"requestsPerMinute": 1_000_000},
    }
    put(url, "Route", "bench", route).raise_for_status()
    consumer = {"keys": [{"name": "bench", "sha256": key_hash(KEY)}]}
    return put(url, "Consumer", "bench", consumer).status_code in (200, 201)


@dataclass
class Side:
    name: str
    url: str
    model: str
    pid: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0
    errors: int = 0


async def load(side: Side, rate: float, count: int, stream: bool, limit: float) -> None:
    """Open loop: request i starts at i/rate seconds, whatever the earlier ones are doing."""
    body: dict[str, Any] = {
        "model": side.model,
        "stream": stream,
        "messages": [{"role": "user", "content": "benchmark prompt, nothing personal in it"}],
    }
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=side.headers) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent = time.perf_counter()
            url = f"{side.url}/v1/chat/completions"
            async with client.stream("POST", url, json={**body, "user": f"u{i}"}) as r:
                async for _ in r.aiter_bytes():
                    pass
            if r.status_code != 200:
                side.errors += 1
            side.latencies.append(time.perf_counter() - sent)

        before = cpu_seconds(side.pid) if side.pid else 0.0
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), timeout=limit)
        if side.pid:
            side.cpu += cpu_seconds(side.pid) - before


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--requests", type=int, default=1000, help="requests per side")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--stream", action="store_true", help="use SSE streaming")
    parser.add_argument("--ttft", default="0.02", help="simulator time to first token (s)")
    parser.add_argument("--baseline-src", type=Path, help="a source tree to run a second gateway")
    args = parser.parse_args()
    per_round = max(1, args.requests // args.rounds)
    limit = per_round / args.rate + 60  # hard stop for each side of each round
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    with ExitStack() as stack:
        upstream = stack.enter_context(
            simulator("--ttft", args.ttft, "--tpot", "0.005", "--tokens", "8")
        )
        sides = [Side("direct to the simulator", upstream, "sim")]
        trees = [("this tree", None)]
        if args.baseline_src is not None:
            trees.append((f"baseline {args.baseline_src}", args.baseline_src.resolve()))
        for label, source in trees:
            port = free_port()
            env = {"CONTROLPLANE_GATEWAY_TOKEN": TOKEN}
            if source is not None:  # its package first; not this tree's (the working folder)
                env.update(PYTHONPATH=str(source), PYTHONSAFEPATH="1")
            folder = work / f"gateway-{port}"
            folder.mkdir()
            options = ["--audit-log", str(folder / "audit.jsonl"), "--audit-content", "none"]
            process = stack.enter_context(
                controlplane(["gateway", "serve", *options], port, env, folder / "log")
                if source is None
                else controlplane(["gateway", "serve"], port, env)  # older: no request log
            )
            url = f"http://127.0.0.1:{port}"
            keyed = configure(url, upstream)
            headers = {"Authorization": f"Bearer {KEY}"} if keyed else {}
            sides.append(Side(f"gateway, {label}", url, "bench", process.pid, headers))
        for side in sides:  # warm every path up
            asyncio.run(
                load(
                    Side(side.name, side.url, side.model, None, side.headers),
                    args.rate,
                    50,
                    args.stream,
                    60,
                )
            )
        for _ in range(args.rounds):
            for side in sides:
                asyncio.run(load(side, args.rate, per_round, args.stream, limit))
    mode = "streaming" if args.stream else "non-streaming"
    print(
        f"{per_round * args.rounds} {mode} requests per side at {args.rate:g}/s in "
        f"{args.rounds} interleaved rounds; simulator TTFT {float(args.ttft) * 1000:g} ms, "
        "8 tokens at 5 ms"
    )
    print("| path | p50 | p90 | p99 | added p50 | added p99 | CPU per 1,000 requests | errors |")
    print("|---|---|---|---|---|---|---|---|")
    direct = sides[0].latencies
    for side in sides:
        values = side.latencies
        added = (
            ""
            if side is sides[0]
            else (
                f"+{(quantile(values, 0.5) - quantile(direct, 0.5)) * 1000:.1f} ms | "
                f"+{(quantile(values, 0.99) - quantile(direct, 0.99)) * 1000:.1f} ms"
            )
        )
        cpu = f"{side.cpu / len(values) * 1000:.2f} s" if side.pid else ""
        print(
            f"| {side.name} | {quantile(values, 0.5) * 1000:.1f} ms | "
            f"{quantile(values, 0.9) * 1000:.1f} ms | {quantile(values, 0.99) * 1000:.1f} ms | "
            f"{added or ' | '} | {cpu} | {side.errors} |"
        )


if __name__ == "__main__":
    main()
