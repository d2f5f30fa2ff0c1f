"""Benchmark: from `git push` + webhook to the change live on the embedded gateway.

A bare origin on disk, the gateway and `controlplane serve` (polling every 60 s, so only the
webhook can explain a fast apply), all on 127.0.0.1. Each round edits a route's rate limit,
commits, pushes, sends the signed webhook, and polls the gateway's admin API every 5 ms until the
new value is live (30 s limit per round). Reports median and p95 from the push and from the
webhook.

Run: .venv/bin/python benchmarks/reconcile_bench.py [--pushes 20]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from controlplane.testing.processes import wait_healthy  # noqa: E402
from tests.support.processes import TOKEN, free_port, gateway, git  # noqa: E402

SECRET = "bench-webhook-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        origin, work = tmp / "origin.git", tmp / "work"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
        git(tmp, "clone", "-q", str(origin), str(work))
        for folder in ("environments", "policies"):
            shutil.copytree(ROOT / folder, work / folder)
        gateway_port = free_port()
        env_file = work / "environments/dev/environment.yaml"
        env_file.write_text(
            env_file.read_text().replace(
                "http://127.0.0.1:4000", f"http://127.0.0.1:{gateway_port}"
            )
        )
        git(work, "add", ".")
        git(work, "commit", "-qm", "initial")
        git(work, "push", "-q", "origin", "main")
        with gateway(gateway_port):
            port = free_port()
            env = {
                **os.environ,
                "CONTROLPLANE_GATEWAY_TOKEN": TOKEN,
                "BENCH_SECRET": SECRET,
                "CONTROLPLANE_WEBHOOK_SECRET": "env:BENCH_SECRET",
            }
            service = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "controlplane",
                    "serve",
                    "--repo",
                    str(origin),
                    "--env",
                    "dev",
                    "--workdir",
                    str(tmp / "wd"),
                    "--port",
                    str(port),
                    "--poll-interval",
                    "60",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_healthy(f"http://127.0.0.1:{port}", service)
                from_push, from_hook = run(work, port, gateway_port, args.pushes)
            finally:
                service.terminate()
                service.wait(timeout=10)
    print(f"{args.pushes} pushes, each to the change live on the gateway")
    print("| measured from | p50 | p95 | max |")
    print("|---|---|---|---|")
    for name, values in (("git push", from_push), ("webhook sent", from_hook)):
        p95 = statistics.quantiles(values, n=20, method="inclusive")[18]
        print(
            f"| {name} | {statistics.median(values) * 1000:.0f} ms | {p95 * 1000:.0f} ms | "
            f"{max(values) * 1000:.0f} ms |"
        )


def run(work: Path, port: int, gateway_port: int, pushes: int) -> tuple[list[float], list[float]]:
    routes = work / "environments/dev/routes.yaml"
    admin = httpx.Client(
        base_url=f"http://127.0.0.1:{gateway_port}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    def live_rpm() -> int | None:
        r = admin.get("/admin/v1/resources/Route/chat")
        return int(r.json()["spec"]["rateLimits"]["requestsPerMinute"]) if r.is_success else None

    deadline = time.monotonic() + 30
    while live_rpm() != 60 and time.monotonic() < deadline:  # the startup sync
        time.sleep(0.05)
    from_push, from_hook = [], []
    current = 60
    for i in range(pushes):
        new = 100 + i
        routes.write_text(
            routes.read_text().replace(f"requestsPerMinute: {current}", f"requestsPerMinute: {new}")
        )
        git(work, "commit", "-qam", f"rpm {new}")
        pushed = time.perf_counter()
        git(work, "push", "-q", "origin", "main")
        hooked = time.perf_counter()
        httpx.post(
            f"http://127.0.0.1:{port}/webhooks/git",
            content=body,
            timeout=10,
            headers={"X-Hub-Signature-256": signature},
        ).raise_for_status()
        limit = time.monotonic() + 30
        while live_rpm() != new:
            if time.monotonic() > limit:
                raise SystemExit(f"push {i} was not live within 30 s")
            time.sleep(0.005)
        done = time.perf_counter()
        from_push.append(done - pushed)
        from_hook.append(done - hooked)
        current = new
    return from_push, from_hook


if __name__ == "__main__":
    main()
