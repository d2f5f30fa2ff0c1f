"""`controlplane serve` for tests: a bare origin, a working clone, a real gateway and simulator."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.testing.processes import wait_healthy
from tests.support.config import REPO, edit
from tests.support.processes import TOKEN, free_port, gateway, git, simulator

API_TOKEN = "test-api-token"
SECRET = "test-webhook-secret"


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Service:
    tmp: Path
    work: Path
    origin: Path
    gateway_port: int
    gateway_state: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # more variables for `serve`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "CONTROLPLANE_GATEWAY_TOKEN": TOKEN,
            "TEST_API_TOKEN": API_TOKEN,
            "TEST_WEBHOOK_SECRET": SECRET,
            "CONTROLPLANE_API_TOKEN": "env:TEST_API_TOKEN",
            "CONTROLPLANE_WEBHOOK_SECRET": "env:TEST_WEBHOOK_SECRET",
            "CONTROLPLANE_RETRY_BASE_SECONDS": "0.05",
            "CONTROLPLANE_RETRY_MAX_SECONDS": "0.2",
            **self.env,
        }
        log = open(self.tmp / "service.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "controlplane",
                "serve",
                "--repo",
                str(self.origin),
                "--env",
                "dev",
                "--workdir",
                str(self.tmp / "workdir"),
                "--poll-interval",
                "1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
        wait_healthy(self.url, self.process)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=10)

    def stop_if_running(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()

    def api(self, path: str) -> Any:
        response = httpx.get(
            f"{self.url}/api/v1{path}", timeout=10, headers={"Authorization": f"Bearer {API_TOKEN}"}
        )
        response.raise_for_status()
        return response.json()

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.api("/environments/dev")
        return result

    def push(self, file: str, old: str, new: str, message: str) -> str:
        edit(self.work, file, old, new)
        git(self.work, "commit", "-qam", message)
        git(self.work, "push", "-q", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")

    def webhook(
        self, body: bytes = b'{"ref": "refs/heads/main"}', signature: str | None = None
    ) -> httpx.Response:
        if signature is None:
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return httpx.post(
            f"{self.url}/webhooks/git",
            content=body,
            timeout=10,
            headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
        )

    def live_route(self) -> dict[str, Any]:
        response = httpx.get(
            f"http://127.0.0.1:{self.gateway_port}/admin/v1/resources/Route/chat",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        result: dict[str, Any] = response.json()
        return result

    def synced_at(self, sha: str) -> Callable[[], bool]:
        def check() -> bool:
            s = self.status()
            return bool(s["sync"] == "synced" and s["liveCommit"] == sha)

        return check


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with service_running(tmp_path) as svc:
        yield svc


@contextmanager
def service_running(tmp_path: Path) -> Iterator[Service]:
    """`controlplane serve` on a bare origin holding the shipped config, dev synced to a real
    gateway whose models point at a simulator."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(work))
    for folder in ("environments", "policies"):
        shutil.copytree(REPO / folder, work / folder)
    with ExitStack() as stack:
        sim = stack.enter_context(simulator("--ttft", "0", "--tpot", "0", "--tokens", "2"))
        gateway_port, state = free_port(), tmp_path / "gateway.json"
        stack.enter_context(gateway(gateway_port, state))
        edit(
            work,
            "environments/dev/environment.yaml",
            "http://127.0.0.1:4000",
            f"http://127.0.0.1:{gateway_port}",
        )
        edit(work, "environments/dev/environment.yaml", "selfHeal: true", "selfHeal: false")
        edit(work, "environments/dev/models.yaml", "http://127.0.0.1:8101/v1", f"{sim}/v1")
        git(work, "add", ".")
        git(work, "commit", "-qm", "initial config")
        git(work, "push", "-q", "origin", "main")
        svc = Service(tmp_path, work, origin, gateway_port, state)
        svc.start()
        stack.callback(svc.stop_if_running)
        wait_for("the first sync", svc.synced_at(git(work, "rev-parse", "HEAD")))
        yield svc
