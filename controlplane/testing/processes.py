"""TEST KIT: child `controlplane` processes on loopback: start, wait until healthy, stop for sure.

Used by the demo and by the tests, so both start the real processes the same way.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for bind(0) is also
# handed to outgoing connections, so between our check and the child's bind another test's
# client could take it (seen in CI: a simulator's uvicorn exited 3, address in use).
_PORTS = range(20000, 32000)
_RANDOM = random.SystemRandom()  # independent of any seed a test sets


def free_port() -> int:
    """A loopback port nobody listens on, outside the range outgoing connections draw from."""
    for _ in range(200):
        port = _RANDOM.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in 20000-31999")


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], timeout: float = 20, path: str = "/healthz"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become healthy in {timeout:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def started(
    command: list[str],
    url: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    health: str = "/healthz",
    timeout: float = 20,
    wait: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends, once `url + health` answers 200 (with `wait`; else
    at once, and the caller waits, e.g. for several processes starting side by side)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=out, stderr=out)
    try:
        if wait:
            wait_healthy(url, process, timeout, health)
        yield process
    finally:
        stop(process)
        if log:
            out.close()  # type: ignore[union-attr]


@contextmanager
def controlplane(
    args: list[str],
    port: int,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    wait: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `controlplane ARGS --port PORT` until the block ends."""
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "controlplane", *args, "--port", str(port)]
    with started(command, url, env, log, wait=wait) as process:
        yield process
