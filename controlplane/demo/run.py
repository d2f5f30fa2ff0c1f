"""`controlplane demo`: the whole loop, from an empty temporary folder, in about a minute.

A bare git repository seeded with the shipped config; two SIMULATED model servers (the canary
deliberately slow); the embedded gateway; Prometheus scraping the gateway and the service every
second; the forge STAND-IN (GitHub pulls subset, not a forge); and `controlplane serve`. Then:
main is applied, a canary commit is pushed and applied, bounded traffic flows, the latency
policy fails, the rollback pull request is opened with its evidence, it is merged, and the
gateway is back on the stable model. Every process listens on 127.0.0.1 and is stopped at the
end, on an error, or on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx

from controlplane.demo.overlay import apply_overlay
from controlplane.errors import DemoError, UsageError
from controlplane.example import example_files
from controlplane.schema import REFERENCE_FILE, render_reference, render_schema_files
from controlplane.signatures import signature_header
from controlplane.testing.processes import controlplane, free_port, started, wait_healthy

POLICY = "demo-latency"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


@dataclass
class Demo:
    root: Path
    requests: int
    rate: float
    out: TextIO = sys.stdout
    started_at: float = field(default_factory=time.monotonic)
    tokens: dict[str, str] = field(
        default_factory=lambda: {
            name: secrets.token_urlsafe(24)
            for name in ("gateway", "api", "webhook", "forge", "consumer")
        }
    )
    urls: dict[str, str] = field(default_factory=dict)

    # --- output ------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started_at:5.1f}s] {text}", file=self.out, flush=True)

    def wait(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise DemoError(f"timed out after {timeout:g} s waiting for {what}")

    # --- git ---------------------------------------------------------------------------------

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=Demo Dev", "-c", "user.email=dev@demo.local", *args],
            cwd=self.root / "work",
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def push(self, message: str) -> str:
        self.git("add", ".")
        self.git("commit", "-qm", message)
        self.git("push", "-q", "origin", "main")
        return self.git("rev-parse", "HEAD")

    def webhook(self) -> None:
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        httpx.post(
            f"{self.urls['serve']}/webhooks/git",
            content=body,
            headers={"X-Hub-Signature-256": signature_header(self.tokens["webhook"], body)},
            timeout=10,
        ).raise_for_status()

    # --- the services' APIs --------------------------------------------------------------------

    def api(self, path: str) -> Any:
        response = httpx.get(
            f"{self.urls['serve']}/api/v1{path}",
            headers={"Authorization": f"Bearer {self.tokens['api']}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def forge(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.urls['forge']}/repos/demo/llm-platform-config{path}",
            headers={"Authorization": f"Bearer {self.tokens['forge']}"},
            timeout=15,
            **kwargs,
        )
        response.raise_for_status()
        return response.json()

    def live_route(self) -> dict[str, Any]:
        response = httpx.get(
            f"{self.urls['gateway']}/admin/v1/resources/Route/chat",
            headers={"Authorization": f"Bearer {self.tokens['gateway']}"},
            timeout=10,
        )
        spec: dict[str, Any] = response.json().get("spec", {}) if response.is_success else {}
        return spec

    def synced(self, sha: str) -> Callable[[], bool]:
        def check() -> bool:
            status = self.api("/environments/dev")
            return bool(status["sync"] == "synced" and status["liveCommit"] == sha)

        return check

    # --- stages ------------------------------------------------------------------------------

    def seed(self) -> str:
        """The shipped example config (package data) with the demo's base overlay, and its
        schemas, pushed as the first commit of a new bare repository."""
        origin, work = self.root / "origin.git", self.root / "work"
        for command in (
            ["git", "init", "-q", "--bare", "-b", "main", str(origin)],
            ["git", "clone", "-q", str(origin), str(work)],  # empty, and says so on stderr
        ):
            subprocess.run(command, check=True, capture_output=True)
        for relative, content in example_files():
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            (work / relative).write_bytes(content)
        schemas = {**render_schema_files(), REFERENCE_FILE: render_reference()}
        (work / "schemas").mkdir()
        for name, text in schemas.items():
            (work / "schemas" / name).write_text(text, encoding="utf-8")
        apply_overlay(work, "base", self.urls)
        return self.push("Dev on the demo's loopback services, with a TTFT policy")

    def prometheus_config(self) -> Path:
        config = self.root / "prometheus.yml"
        targets = [self.urls["gateway"], self.urls["serve"]]
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
            + "".join(
                f"  - job_name: {name}\n    static_configs:\n"
                f"      - targets: ['{url.removeprefix('http://')}']\n"
                for name, url in zip(("gateway", "controlplane"), targets, strict=True)
            )
        )
        return config

    def canary(self) -> str:
        apply_overlay(self.root / "work", "canary", self.urls)
        return self.push("Canary chat-canary at 30% on chat")

    async def _traffic(self, stop: threading.Event, counts: dict[str, int]) -> None:
        headers = {"Authorization": f"Bearer {self.tokens['consumer']}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:

            async def one(i: int) -> None:
                async with client.stream(
                    "POST",
                    f"{self.urls['gateway']}/v1/chat/completions",
                    json={
                        "model": "chat",
                        "stream": True,
                        "user": f"user-{i}",
                        "messages": [{"role": "user", "content": "Say hello."}],
                    },
                ) as response:
                    async for _ in response.aiter_bytes():
                        pass
                    served = response.headers.get(
                        "x-controlplane-model", f"HTTP {response.status_code}"
                    )
                    counts[served] = counts.get(served, 0) + 1

            tasks = []
            start = time.monotonic()
            for i in range(self.requests):
                if stop.is_set():
                    break
                tasks.append(asyncio.create_task(one(i)))
                counts["sent"] = i + 1
                await asyncio.sleep(max(0.0, (i + 1) / self.rate - (time.monotonic() - start)))
            await asyncio.gather(*tasks, return_exceptions=True)

    def traffic(self, stop: threading.Event, counts: dict[str, int]) -> threading.Thread:
        thread = threading.Thread(
            target=lambda: asyncio.run(self._traffic(stop, counts)), daemon=True
        )
        thread.start()
        return thread

    # --- the whole loop ----------------------------------------------------------------------

    @property
    def audit_log(self) -> Path:
        return self.root / "logs" / "gateway-audit.jsonl"

    def port(self, name: str) -> int:
        return int(self.urls[name].rsplit(":", 1)[1])

    def children(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """The `controlplane` processes the demo runs: (arguments, environment) by name."""
        env = {
            "CONTROLPLANE_GATEWAY_TOKEN": self.tokens["gateway"],
            "DEV_APP_API_KEY": self.tokens["consumer"],  # Consumer/dev-app's key, by reference
            "DEMO_API_TOKEN": self.tokens["api"],
            "DEMO_WEBHOOK_SECRET": self.tokens["webhook"],
            "DEMO_FORGE_TOKEN": self.tokens["forge"],
        }
        serve_env = {
            **env,
            "CONTROLPLANE_API_TOKEN": "env:DEMO_API_TOKEN",
            "CONTROLPLANE_WEBHOOK_SECRET": "env:DEMO_WEBHOOK_SECRET",
        }
        origin = str(self.root / "origin.git")
        sim = ["upstream-sim", "--tpot", "0.005", "--tokens", "8", "--seed", "1"]
        forge = ["forge-standin", "--repo", origin, "--repository", "demo/llm-platform-config"]
        forge += ["--token", "env:DEMO_FORGE_TOKEN", "--webhook-secret", "env:DEMO_WEBHOOK_SECRET"]
        forge += ["--webhook-url", f"{self.urls['serve']}/webhooks/git"]
        serve = ["serve", "--repo", origin, "--env", "dev", "--poll-interval", "30"]
        serve += ["--workdir", str(self.root / "serve")]
        return {
            "stable": ([*sim, "--ttft", "0.03"], env),
            "canary": ([*sim, "--ttft", "0.6"], env),
            "gateway": (
                [
                    "gateway",
                    "serve",
                    "--audit-log",
                    str(self.root / "logs" / "gateway-audit.jsonl"),
                ],
                env,
            ),
            "forge": (forge, env),
            "serve": (serve, serve_env),
        }

    def start(self, stack: ExitStack) -> None:
        """Every process, started side by side, then each waited for until healthy."""
        logs = self.root / "logs"
        logs.mkdir()
        prometheus = shutil.which("prometheus")
        assert prometheus is not None  # checked before the demo starts
        processes = {
            name: stack.enter_context(
                controlplane(args, self.port(name), env, logs / f"{name}.log", wait=False)
            )
            for name, (args, env) in self.children().items()
        }
        processes["prometheus"] = stack.enter_context(
            started(
                [
                    prometheus,
                    f"--config.file={self.prometheus_config()}",
                    f"--storage.tsdb.path={self.root / 'prometheus'}",
                    f"--web.listen-address=127.0.0.1:{self.port('prometheus')}",
                ],
                self.urls["prometheus"],
                log=logs / "prometheus.log",
                wait=False,
            )
        )
        for name, process in processes.items():
            health = "/-/ready" if name == "prometheus" else "/healthz"
            try:
                wait_healthy(self.urls[name], process, 60, health)
            except RuntimeError as exc:
                raise DemoError(f"{name} did not start: {exc}") from exc

    def run(self) -> None:
        for name in ("stable", "canary", "gateway", "prometheus", "forge", "serve"):
            self.urls[name] = f"http://127.0.0.1:{free_port()}"
        with ExitStack() as stack:
            sha = self.seed()
            self.say(f"seeded a bare git repo with the shipped config: main at {sha[:12]}")
            self.say(
                "starting two model simulators, the gateway, the forge stand-in, Prometheus "
                "and controlplane serve, side by side"
            )
            self.start(stack)
            self.say("started two SIMULATED model servers: stable (TTFT 30 ms), canary (600 ms)")
            self.say(f"started the gateway {self.urls['gateway']} and the forge STAND-IN")
            self.say(
                f"started Prometheus {self.urls['prometheus']} (scraping every 1 s) and "
                f"controlplane serve {self.urls['serve']}"
            )
            self.wait("serve to apply main", self.synced(sha), 60)
            self.say(f"reconciled main: route chat serves {self.live_route().get('model')}")

            sha = self.canary()
            self.webhook()
            self.wait("the canary commit to be applied", self.synced(sha), 60)
            canary = self.live_route().get("canary") or {}
            self.say(
                f"pushed {sha[:12]} 'Canary chat-canary at 30% on chat' + signed webhook: "
                f"live canary {canary.get('model')} at {canary.get('percent'):g}%"
            )
            self.watch_until_rollback()
            self.features()

    def watch_until_rollback(self) -> None:
        stop, counts = threading.Event(), {"sent": 0}
        thread = self.traffic(stop, counts)
        self.say(f"sending up to {self.requests} streamed requests at {self.rate:g}/s")
        deadline = time.monotonic() + 120
        last_report, seen_results = 0.0, 0
        try:
            while not self.forge("GET", "/pulls"):
                if time.monotonic() > deadline:
                    raise DemoError("timed out after 120 s waiting for the rollback PR")
                results = self.api(f"/policies/{POLICY}/results?limit=100")["results"]
                for result in reversed(results[: len(results) - seen_results]):
                    self.say(f"policy {POLICY}: {result['outcome'].upper()} ({result['reason']})")
                seen_results = len(results)
                if time.monotonic() - last_report > 5:
                    served = ", ".join(f"{k} {v}" for k, v in counts.items() if k != "sent")
                    self.say(f"traffic: {counts['sent']} sent ({served or 'none answered yet'})")
                    last_report = time.monotonic()
                time.sleep(0.5)
        finally:
            stop.set()
            thread.join(timeout=35)
        [pull] = self.forge("GET", "/pulls")
        self.say(f"rollback PR #{pull['number']} opened: {pull['title']}")
        labels = ", ".join(label["name"] for label in pull["labels"])
        self.say(f"  head {pull['head']['ref']} → {pull['base']['ref']}; labels: {labels}")
        for line in pull["body"].splitlines():
            if line.startswith(("> ", "- Breach", "- Blamed", "- Applied", "| ttft", "| ~", "| -")):
                print(f"          {line}", file=self.out)
        merged = self.forge("PUT", f"/pulls/{pull['number']}/merge", json={"merge_method": "merge"})
        self.say(f"merged PR #{pull['number']} as {merged['sha'][:12]}; the forge sent the webhook")
        self.wait("the revert to be applied", lambda: "canary" not in self.live_route(), 60)
        self.say(f"route chat is back on {self.live_route().get('model')}, without the canary")
        answer = httpx.post(
            f"{self.urls['gateway']}/v1/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "Still there?"}]},
            headers={"Authorization": f"Bearer {self.tokens['consumer']}"},
            timeout=30,
        )
        self.say(f"a request now: served by {answer.headers.get('x-controlplane-model')}")

    def ask(self, question: str) -> str:
        started = time.monotonic()
        answer = httpx.post(
            f"{self.urls['gateway']}/v1/chat/completions",
            json={
                "model": "chat",
                "temperature": 0,
                "messages": [{"role": "user", "content": question}],
            },
            headers={"Authorization": f"Bearer {self.tokens['consumer']}"},
            timeout=30,
        )
        answer.raise_for_status()
        cache = answer.headers.get("x-controlplane-cache")
        model = answer.headers.get("x-controlplane-model", "the cache")
        elapsed = (time.monotonic() - started) * 1000
        self.say(f"  {question!r}: cache {cache}, answered by {model} in {elapsed:.0f} ms")
        return str(cache)

    def features(self) -> None:
        """Cache and cascade on the route, through git like every change, then seen working."""
        self.git("pull", "-q", "--ff-only", "origin", "main")  # the merged rollback
        apply_overlay(self.root / "work", "features", self.urls)
        sha = self.push("Cache and cascade on chat")
        self.webhook()
        self.wait("the cache and cascade to be applied", self.synced(sha), 60)
        self.say(f"pushed {sha[:12]} 'Cache and cascade on chat': asking the same thing thrice")
        outcomes = [
            self.ask("What is the capital of France?"),
            self.ask("What is the capital of France?"),
            self.ask("What's the capital city of France?"),  # a paraphrase: semantic
            self.ask("A hard one: prove there are infinitely many primes."),
        ]
        if outcomes[:3] != ["miss", "hit", "hit"]:
            raise DemoError(f"the cache did not answer as expected: {outcomes}")
        log = self.audit_log
        lines = len(log.read_text().splitlines()) if log.exists() else 0
        self.say(f"the request log holds {lines} lines (no key, PII redacted): {log}")


def run_demo(requests: int = 900, rate: float = 25, keep: bool = False) -> int:
    """The demo; 0 when every stage happened."""
    if shutil.which("prometheus") is None:
        raise UsageError(
            "the demo needs Prometheus to see the SLO breach: install it with "
            "`sudo apt-get install prometheus` (Debian/Ubuntu; `make system-deps` does it), or "
            "put a prometheus binary from https://prometheus.io/download/ on PATH"
        )
    root = Path(tempfile.mkdtemp(prefix="controlplane-demo-"))
    demo = Demo(root, requests, rate)
    print(f"controlplane demo: the whole loop on 127.0.0.1, working in {root}", flush=True)
    # A plain `kill` must clean up as Ctrl-C does: stop every child, remove the folder.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    ok = interrupted = False
    try:
        demo.run()
        ok = True
    except DemoError as exc:
        print(f"demo failed: {exc}; logs are in {root / 'logs'}", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: every process was stopped", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if (ok or interrupted) and not keep:
            shutil.rmtree(root, ignore_errors=True)
    if ok:
        demo.say("done: every process stopped" + (f"; files kept in {root}" if keep else ""))
    return 0 if ok else EXIT_INTERRUPTED if interrupted else 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
