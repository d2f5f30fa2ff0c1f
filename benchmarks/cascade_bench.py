"""Benchmark: the model cascade against always asking the strong model, on a seeded mix.

Starts two upstream SIMULATORS on 127.0.0.1, a fast cheap one (answers with token logprobs whose
mean probability is 0.9, a third of that for prompts that contain "hard") and a slow strong one,
and the gateway with two routes over them: `cascaded` (fast first, escalate below confidence
0.8) and `strong` (the strong model only), priced as the shipped prod config prices chat-small
and chat-v1. The same seeded mix of prompts (a share of them hard) goes through both routes, one
after the other, in one run. Reports the share the fast model answered, the $ each route cost
(from the gateway's own cost metric) and the latency.

The confidence signal here is the simulator's, set by the prompt: what this measures is the
gateway's cascade mechanics and their cost arithmetic, not a real model's calibration.

Run: .venv/bin/python benchmarks/cascade_bench.py [--requests 300] [--hard 0.3] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.gateway.auth import key_hash
from tests.support.processes import gateway, simulator
from tests.support.processes import put_resource as put

KEY = "sk-cascade-bench"
EASY = ["What is {a} plus {b}?", "Spell the word {w}.", "Translate '{w}' to French."]
HARD = ["A hard proof: show that {a} has no rational square root.", "Plan a hard {w} migration."]
WORDS = ["apple", "river", "window", "garden", "silver", "planet"]


def metric(text: str, name: str, route: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and f'route="{route}"' in line
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per route")
    parser.add_argument("--hard", type=float, default=0.3, help="share of hard prompts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    prompts = [
        rng.choice(HARD if rng.random() < args.hard else EASY).format(
            a=rng.randint(2, 99), b=rng.randint(2, 99), w=rng.choice(WORDS)
        )
        for _ in range(args.requests)
    ]
    with (
        simulator("--ttft", "0.02", "--tpot", "0.002", "--tokens", "24") as small,
        simulator("--ttft", "0.15", "--tpot", "0.01", "--tokens", "24") as big,
        gateway() as url,
    ):
        for name, upstream, prices in (
            ("chat-small", small, (0.02, 0.06)),
            ("chat-v1", big, (0.10, 0.30)),
        ):
            model = {
                "baseModel": name,
                "framework": "openai-compatible",
                "endpoint": f"{upstream}/v1",
                "pricing": {"inputPer1M": prices[0], "outputPer1M": prices[1]},
            }
            put(url, "Model", name, model).raise_for_status()
        cascade = {"fast": "chat-small", "strong": "chat-v1", "confidence": 0.8}
        put(url, "Route", "cascaded", {"model": "chat-v1", "cascade": cascade}).raise_for_status()
        put(url, "Route", "strong", {"model": "chat-v1"}).raise_for_status()
        put(url, "Consumer", "bench", {"keys": [{"name": "k", "sha256": key_hash(KEY)}]})
        latencies: dict[str, list[float]] = {"cascaded": [], "strong": []}
        answered_by: dict[str, int] = {}
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as client:
            for route in ("cascaded", "strong"):
                for prompt in prompts:
                    body = {"model": route, "messages": [{"role": "user", "content": prompt}]}
                    started = time.perf_counter()
                    response = client.post(f"{url}/v1/chat/completions", json=body)
                    response.raise_for_status()
                    latencies[route].append(time.perf_counter() - started)
                    if route == "cascaded":
                        served = response.headers["x-controlplane-model"]
                        answered_by[served] = answered_by.get(served, 0) + 1
            text = client.get(f"{url}/metrics").text
    cost = {route: metric(text, "llm_gateway_cost_usd_total", route) for route in latencies}
    hard = sum("hard" in p for p in prompts)
    print(f"{args.requests} prompts per route, {hard} of them hard (seed {args.seed})")
    print("| route | answered by the fast model | $ per 1,000 requests | p50 latency |")
    print("|---|---|---|---|")
    for route, values in latencies.items():
        fast = answered_by.get("chat-small", 0) if route == "cascaded" else 0
        print(
            f"| {route} | {fast / args.requests:.0%} | "
            f"${cost[route] / args.requests * 1000:.4f} | "
            f"{statistics.median(values) * 1000:.0f} ms |"
        )
    print(f"cascade cost / always-strong cost: {cost['cascaded'] / cost['strong']:.2f}×")


if __name__ == "__main__":
    main()
