"""`controlplane serve` drives vLLM and LiteLLM together from git: a commit that adds a LoRA
adapter and a LiteLLM deployment for a new model version goes live on both after its webhook,
and its revert takes both away. Every change lands in history with the resources it came from."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.processes import git
from tests.support.service import Service, wait_for
from tests.support.serving import MASTER_KEY, LiteLLM, litellm_proxy, make_adapter, vllm_server

CONFIG = """apiVersion: controlplane.dev/v1alpha1
kind: Environment
metadata: {{name: dev}}
spec:
  targets:
    - type: vllm
      servers: [{{name: minilm-a, url: {vllm}}}]
    - type: litellm
      url: {litellm}
      masterKey: env:TEST_LITELLM_MASTER_KEY
      configFile: {config_file}
      reloadCommand: [{reload}]
  prune: true
---
apiVersion: controlplane.dev/v1alpha1
kind: GpuPool
metadata: {{name: cpu}}
spec: {{accelerator: none-cpu, gpuMemoryGib: 16, gpusPerNode: 8, minNodes: 1, maxNodes: 1,
        pricePerGpuHour: 0}}
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: embed-v1}}
spec: {{baseModel: minilm, framework: vllm, pool: cpu, parameterCount: 22M,
        endpoint: "{vllm}/v1"}}
---
apiVersion: controlplane.dev/v1alpha1
kind: Route
metadata: {{name: embed}}
spec:
  model: embed-v1
"""

NEW_VERSION = """---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: embed-v2}}
spec: {{baseModel: minilm, framework: vllm, pool: cpu, parameterCount: 22M,
        endpoint: "{vllm}/v1", adapter: {{name: support-v2, uri: {adapter}}}}}
"""


class Stack:
    def __init__(self, service: Service, vllm: str, proxy: LiteLLM, adapter: Path) -> None:
        self.service, self.vllm, self.proxy, self.adapter = service, vllm, proxy, adapter

    def adapters(self) -> set[str]:
        data = httpx.get(f"{self.vllm}/v1/models", timeout=10).json()["data"]
        return {m["id"] for m in data if m["parent"] is not None}

    def deployments(self) -> set[str]:
        """What the proxy serves; nothing while it restarts on its new config."""
        try:
            response = self.proxy.get("/model/info")
        except httpx.TransportError:
            return set()
        return (
            {d["model_info"]["id"] for d in response.json()["data"]}
            if response.is_success
            else set()
        )

    def commit_and_notify(self, message: str) -> tuple[str, float]:
        git(self.service.work, "commit", "-qam", message)
        git(self.service.work, "push", "-q", "origin", "main")
        sha = git(self.service.work, "rev-parse", "HEAD")
        assert self.service.webhook().status_code == 202
        return sha, time.monotonic()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("serve-serving")
    adapter = make_adapter(tmp / "support-v2", seed=7)
    with vllm_server(log=tmp / "vllm.log") as vllm, litellm_proxy(tmp / "proxy") as proxy:
        origin, work = tmp / "origin.git", tmp / "work"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(origin))
        git(tmp, "clone", "-q", str(origin), str(work))
        folder = work / "environments" / "dev"
        folder.mkdir(parents=True)
        (folder / "all.yaml").write_text(
            CONFIG.format(
                vllm=vllm,
                litellm=proxy.url,
                config_file=proxy.config_file,
                reload=proxy.reload_command[0],
            )
        )
        git(work, "add", ".")
        git(work, "commit", "-qm", "embed route on vLLM behind LiteLLM")
        git(work, "push", "-q", "origin", "main")
        service = Service(
            tmp,
            work,
            origin,
            0,
            tmp / "unused",
            env={
                "TEST_LITELLM_MASTER_KEY": MASTER_KEY,
            },
        )
        service.start()
        try:
            wait_for("the first sync", service.synced_at(git(work, "rev-parse", "HEAD")), 120)
            yield Stack(service, vllm, proxy, adapter)
        finally:
            service.stop_if_running()


def test_a_new_model_version_goes_live_on_vllm_and_litellm_and_its_revert_removes_both(
    stack: Stack,
) -> None:
    assert stack.deployments() >= {"embed:embed-v1"}
    assert stack.adapters() == set()

    routes = stack.service.work / "environments" / "dev" / "all.yaml"
    text = routes.read_text()
    text = text.replace(
        "  model: embed-v1\n", "  model: embed-v1\n  canary: {model: embed-v2, percent: 50}\n"
    )
    routes.write_text(text + NEW_VERSION.format(vllm=stack.vllm, adapter=stack.adapter))
    sha, sent = stack.commit_and_notify("embed-v2: support adapter as a 50% canary")
    wait_for("the adapter on vLLM", lambda: stack.adapters() == {"support-v2"}, 60)
    vllm_seconds = time.monotonic() - sent
    wait_for("the deployment on LiteLLM", lambda: "embed:embed-v2" in stack.deployments(), 120)
    litellm_seconds = time.monotonic() - sent
    wait_for("the sync", stack.service.synced_at(sha), 60)
    print(f"webhook to live: vLLM {vllm_seconds:.2f} s, LiteLLM {litellm_seconds:.2f} s")

    client = openai.OpenAI(base_url=f"{stack.proxy.url}/v1", api_key=MASTER_KEY, max_retries=0)
    served = set()
    for _ in range(12):
        response = client.embeddings.with_raw_response.create(model="embed", input="hello")
        served.add(response.headers["x-litellm-model-id"])
    assert served == {"embed:embed-v1", "embed:embed-v2"}  # both arms answer, adapter included

    attempts = stack.service.api("/environments/dev/history")["attempts"]
    applied = next(a for a in attempts if a["commit"] == sha and a["result"] == "applied")
    changes = {(c["target"], c["kind"], c["name"]): c.get("sources") for c in applied["changes"]}
    # Each recorded with the config resources it came from, which rollback blames.
    assert changes[("vllm", "LoraAdapter", "minilm-a/support-v2")] == ["Model/embed-v2"]
    assert changes[("litellm", "LiteLLMDeployment", "embed:embed-v2")] == [
        "Route/embed",
        "Model/embed-v2",
    ]

    git(stack.service.work, "revert", "--no-edit", "HEAD")
    git(stack.service.work, "push", "-q", "origin", "main")
    reverted = git(stack.service.work, "rev-parse", "HEAD")
    assert stack.service.webhook().status_code == 202
    wait_for("the revert", stack.service.synced_at(reverted), 120)
    assert stack.adapters() == set()
    assert "embed:embed-v2" not in stack.deployments()
