"""Start real controlplane processes (gateway, upstream simulator) on loopback for tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from controlplane.testing.processes import controlplane, free_port

__all__ = ["TOKEN", "free_port", "gateway", "git", "put_resource", "running", "simulator"]

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


def bare_origin(tmp: Path, branches: tuple[str, ...] = ()) -> Path:
    """A bare `origin.git` under `tmp` with one commit on main (and one on each branch), pushed
    from a clone at `tmp/work`."""
    origin, work = tmp / "origin.git", tmp / "work"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp, "clone", "-q", str(origin), str(work))
    (work / "README.md").write_text("config\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "initial")
    git(work, "push", "-q", "origin", "main")
    for branch in branches:
        git(work, "checkout", "-qb", branch, "main")
        (work / f"{branch.replace('/', '-')}.txt").write_text(branch)
        git(work, "add", ".")
        git(work, "commit", "-qm", branch)
        git(work, "push", "-q", "origin", branch)
    return origin


@contextmanager
def running(
    args: list[str], port: int, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[str]:
    """`controlplane ARGS --port PORT` for the block, once healthy; yields its base URL."""
    with controlplane(args, port, env, log):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def gateway(
    port: int | None = None,
    state: Path | None = None,
    *options: str,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Iterator[str]:
    args = ["gateway", "serve", *(["--state", str(state)] if state else []), *options]
    env = {"CONTROLPLANE_GATEWAY_TOKEN": TOKEN, **(env or {})}
    with running(args, port or free_port(), env, log) as url:
        yield url


@contextmanager
def simulator(*options: str) -> Iterator[str]:
    with running(["upstream-sim", *options], free_port()) as url:
        yield url


def put_resource(url: str, kind: str, name: str, spec: dict[str, Any]) -> httpx.Response:
    """PUT one resource into the gateway at URL through its admin API (not raised for status)."""
    body = {"apiVersion": "controlplane.dev/v1alpha1", "kind": kind, "metadata": {"name": name}}
    return httpx.put(
        f"{url}/admin/v1/resources/{kind}/{name}",
        json={**body, "spec": spec},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
