"""Start real controlplane processes (gateway, upstream simulator) on loopback for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TOKEN = "test-admin-token"


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity (CI machines have none); return its output."""
    return subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become healthy in {timeout} s")


@contextmanager
def running(
    args: list[str], port: int, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[str]:
    """Run `controlplane ARGS --port PORT` until the block ends; yields its base URL."""
    url = f"http://127.0.0.1:{port}"
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", *args, "--port", str(port)],
        env={**os.environ, **(env or {})},
        stdout=out,
        stderr=out,
    )
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def gateway(port: int | None = None, state: Path | None = None) -> Iterator[str]:
    args = ["gateway", "serve"] + (["--state", str(state)] if state else [])
    with running(args, port or free_port(), {"CONTROLPLANE_GATEWAY_TOKEN": TOKEN}) as url:
        yield url


@contextmanager
def simulator(*options: str) -> Iterator[str]:
    with running(["upstream-sim", *options], free_port()) as url:
        yield url
