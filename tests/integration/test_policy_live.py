"""Live: Prometheus scrapes the embedded gateway while traffic flows; a slow canary is caught."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.policy import Outcome, evaluate_policy
from controlplane.policy.dialects import GATEWAY
from controlplane.prometheus import PrometheusClient
from controlplane.spec import DesiredState, Environment, Route
from controlplane.spec.policy import CanaryAnalysis
from tests.support.processes import TOKEN, free_port, gateway, simulator
from tests.support.prometheus import require_prometheus

pytestmark = pytest.mark.integration
V = "controlplane.dev/v1alpha1"


def put(url: str, kind: str, name: str, spec: dict[str, Any]) -> None:
    body = {"apiVersion": V, "kind": kind, "metadata": {"name": name}, "spec": spec}
    httpx.put(
        f"{url}/admin/v1/resources/{kind}/{name}",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).raise_for_status()


async def traffic(url: str, seconds: float, rate: float) -> int:
    """Bounded load: `rate` requests per second for `seconds`, each from a different user."""
    sent = 0
    async with httpx.AsyncClient(timeout=30) as client:
        tasks = []
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            tasks.append(
                asyncio.create_task(
                    client.post(
                        f"{url}/v1/chat/completions",
                        json={
                            "model": "live",
                            "stream": True,
                            "user": f"user-{sent}",
                            "messages": [{"role": "user", "content": "hello"}],
                        },
                    )
                )
            )
            sent += 1
            await asyncio.sleep(max(0.0, sent / rate - elapsed))
        responses = await asyncio.gather(*tasks)
    assert all(r.status_code == 200 for r in responses)
    return sent


def test_a_slow_canary_is_detected_from_live_scrapes(tmp_path: Path) -> None:
    require_prometheus()
    with (
        simulator("--ttft", "0.03", "--tpot", "0.001", "--tokens", "3") as fast,
        simulator("--ttft", "0.25", "--tpot", "0.001", "--tokens", "3") as slow,
        gateway() as gw,
    ):
        put(
            gw,
            "Model",
            "stable",
            {"baseModel": "s", "framework": "openai-compatible", "endpoint": f"{fast}/v1"},
        )
        put(
            gw,
            "Model",
            "candidate",
            {"baseModel": "c", "framework": "openai-compatible", "endpoint": f"{slow}/v1"},
        )
        put(
            gw,
            "Route",
            "live",
            {
                "model": "stable",
                "canary": {"model": "candidate", "percent": 50},
                "stickiness": {"key": "user"},
                "anonymous": True,  # this test is about the canary, not about keys
            },
        )
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gateway\n"
            f"    static_configs:\n      - targets: ['{gw.removeprefix('http://')}']\n"
        )
        prometheus = subprocess.Popen(
            [
                shutil.which("prometheus") or "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            sent = asyncio.run(traffic(gw, seconds=20, rate=25))
            time.sleep(3)  # two more scrapes after the last request
            env = Environment.model_validate(
                {
                    "apiVersion": V,
                    "kind": "Environment",
                    "metadata": {"name": "live"},
                    "spec": {
                        "targets": [{"type": "gateway", "url": gw}],
                        "prometheus": {"url": url},
                    },
                }
            )
            route = Route.model_validate(
                {
                    "apiVersion": V,
                    "kind": "Route",
                    "metadata": {"name": "live"},
                    "spec": {"model": "stable", "canary": {"model": "candidate", "percent": 50}},
                }
            )
            policy = CanaryAnalysis.model_validate(
                {
                    "apiVersion": V,
                    "kind": "CanaryAnalysis",
                    "metadata": {"name": "live-canary"},
                    "spec": {
                        "minSamplesPerArm": 100,
                        "latency": [
                            {
                                "metric": "ttft",
                                "allowedIncreasePercent": 10,
                                "criticalIncreasePercent": 50,
                            }
                        ],
                    },
                }
            )
            state = DesiredState(environment=env, routes=(route,))
            # Canary analysis reads whole minutes: judge the minute the traffic ended in, as
            # of once it is over (a time just ahead; Prometheus answers with its last scrape).
            ended = datetime.now(UTC)
            at = datetime.fromtimestamp((ended.timestamp() // 60 + 1) * 60 + 35, UTC)
            [result] = evaluate_policy(policy, state, GATEWAY, PrometheusClient(url), at)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=20)
    assert sent >= 400
    assert result.outcome is Outcome.FAIL, result
    requests, latency = result.evidence
    assert requests.samples == sent  # every request, counted exactly
    assert latency.value is not None
    assert latency.value > 50  # the canary's median TTFT is far above the baseline's
