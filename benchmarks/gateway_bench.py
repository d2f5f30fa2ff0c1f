"""Benchmark: latency through the embedded gateway against calling the upstream directly.

Starts the upstream SIMULATOR and the gateway on 127.0.0.1, configures one route through the
admin API, then sends the same open-loop load (a fixed request rate, a fixed number of
requests, a time limit) first straight to the simulator and then through the gateway, in one
run. Reports p50/p99 of each and the gateway's added latency.

Run: .venv/bin/python benchmarks/gateway_bench.py [--rate 50] [--requests 1000] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.processes import TOKEN, gateway, simulator

V = "controlplane.dev/v1alpha1"


def configure(gateway_url: str, upstream: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    model = {
        "apiVersion": V,
        "kind": "Model",
        "metadata": {"name": "sim"},
        "spec": {
            "baseModel": "sim",
            "framework": "openai-compatible",
            "endpoint": f"{upstream}/v1",
            "pricing": {"inputPer1M": 0.1, "outputPer1M": 0.3},
        },
    }
    route = {
        "apiVersion": V,
        "kind": "Route",
        "metadata": {"name": "bench"},
        "spec": {"model": "sim", "stickiness": {"key": "user"}},
    }
    for kind, body in (("Model", model), ("Route", route)):
        name = body["metadata"]["name"]  # type: ignore[index]
        httpx.put(
            f"{gateway_url}/admin/v1/resources/{kind}/{name}", json=body, headers=auth, timeout=10
        ).raise_for_status()


async def load(
    url: str, model: str, rate: float, count: int, stream: bool, limit: float
) -> list[float]:
    """Open loop: request i starts at i/rate seconds, whatever the earlier ones are doing."""
    latencies: list[float] = []
    body: dict[str, Any] = {
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "benchmark prompt"}],
    }
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        start = time.perf_counter()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            sent = time.perf_counter()
            if stream:
                async with client.stream(
                    "POST", f"{url}/v1/chat/completions", json={**body, "user": f"u{i}"}
                ) as r:
                    async for _ in r.aiter_bytes():
                        pass
                    r.raise_for_status()
            else:
                r = await client.post(f"{url}/v1/chat/completions", json={**body, "user": f"u{i}"})
                r.raise_for_status()
            latencies.append(time.perf_counter() - sent)

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), timeout=limit)
    return latencies


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--requests", type=int, default=1000, help="requests per side")
    parser.add_argument("--stream", action="store_true", help="use SSE streaming")
    parser.add_argument("--ttft", default="0.02", help="simulator time to first token (s)")
    args = parser.parse_args()
    limit = args.requests / args.rate + 60  # hard stop for each side
    with (
        simulator("--ttft", args.ttft, "--tpot", "0.005", "--tokens", "8") as upstream,
        gateway() as gw,
    ):
        configure(gw, upstream)
        asyncio.run(load(gw, "bench", args.rate, 50, args.stream, 60))  # warm both paths up
        direct = asyncio.run(load(upstream, "sim", args.rate, args.requests, args.stream, limit))
        through = asyncio.run(load(gw, "bench", args.rate, args.requests, args.stream, limit))
    mode = "streaming" if args.stream else "non-streaming"
    print(
        f"{args.requests} {mode} requests per side at {args.rate:g}/s; simulator TTFT "
        f"{float(args.ttft) * 1000:g} ms, 8 tokens at 5 ms"
    )
    print("| path | p50 | p99 |")
    print("|---|---|---|")
    for name, values in (("direct to the simulator", direct), ("through the gateway", through)):
        print(
            f"| {name} | {quantile(values, 0.5) * 1000:.1f} ms | "
            f"{quantile(values, 0.99) * 1000:.1f} ms |"
        )
    for q in (0.5, 0.99):
        added = (quantile(through, q) - quantile(direct, q)) * 1000
        print(
            f"p{int(q * 100)} added by the gateway: {added:.1f} ms "
            f"({quantile(through, q) / quantile(direct, q):.2f}×)"
        )


if __name__ == "__main__":
    main()
