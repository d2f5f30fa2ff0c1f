"""Models on Kubernetes through `serve`: a merge on main renders the manifests into the
rendered branch of the config repository (a real bare origin), a change is exactly its manifest
diff there, and a rollback (a revert, as a merged rollback pull request is) renders the
manifests back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.kube_standin import kubeconfig, kubernetes_standin
from tests.support.kubernetes_schemas import validate_kserve
from tests.support.processes import git
from tests.support.service import Service, service, wait_for  # noqa: F401

MODEL = "environments/dev/models.yaml"
FILE = "rendered/dev/models/inferenceservice-summarizer.yaml"
TARGET = (
    "    - type: kubernetes\n"
    "      namespace: llm-dev\n"
    "      repoUrl: https://github.com/example-org/llm-platform-config.git\n"
    "      health: {{apiServer: '{api}', kubeconfig: env:TEST_KUBECONFIG}}\n"
)
# What the cluster says of the summarizer (a STAND-IN API server, tests/support/kube_standin).
SUMMARIZER = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "summarizer", "namespace": "llm-dev"},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}
POOL = """
---
apiVersion: controlplane.dev/v1alpha1
kind: GpuPool
metadata:
  name: a10
spec:
  accelerator: nvidia-a10g
  gpuMemoryGib: 24
  gpusPerNode: 4
  maxNodes: 2
  pricePerGpuHour: 1.2
  labels: {node.kubernetes.io/instance-type: g5.12xlarge}
---
apiVersion: controlplane.dev/v1alpha1
kind: Model
metadata:
  name: summarizer
spec:
  baseModel: Qwen/Qwen2.5-7B-Instruct
  parameterCount: 7B
  framework: vllm
  tensorParallel: 1
  pool: a10
  maxModelLen: 8192
"""
L40S = """
---
apiVersion: controlplane.dev/v1alpha1
kind: GpuPool
metadata:
  name: l40s
spec:
  accelerator: nvidia-l40s
  gpuMemoryGib: 48
  gpusPerNode: 4
  maxNodes: 2
  pricePerGpuHour: 1.9
  labels: {node.kubernetes.io/instance-type: g6e.12xlarge}
"""


def rendered(origin: Path, path: str) -> str:
    return git(origin, "show", f"rendered:{path}")


def push(svc: Service, message: str) -> str:
    git(svc.work, "add", ".")
    git(svc.work, "commit", "-qm", message)
    git(svc.work, "push", "-q", "origin", "main")
    sha = git(svc.work, "rev-parse", "HEAD")
    svc.webhook()
    wait_for(f"the sync of {message!r}", svc.synced_at(sha))
    return sha


def test_serve_renders_to_the_branch_and_a_revert_renders_back(service: Service) -> None:  # noqa: F811
    validate_kserve(SUMMARIZER, "V1beta1InferenceService", "recorded")
    with kubernetes_standin({("InferenceService", "llm-dev", "summarizer"): SUMMARIZER}) as api:
        run(service, api)


def run(service: Service, api: str) -> None:  # noqa: F811
    service.stop()
    service.env["TEST_KUBECONFIG"] = kubeconfig()
    service.start()
    env = service.work / "environments/dev/environment.yaml"
    target = TARGET.format(api=api)
    env.write_text(env.read_text().replace("  targets:\n", "  targets:\n" + target))
    (service.work / MODEL).write_text((service.work / MODEL).read_text() + POOL)
    first = push(service, "Run a summarizer on the a10 pool")
    wait_for("the health of the summarizer", lambda: bool(service.status()["health"]))
    [health] = service.status()["health"]
    assert health == {
        "target": "kubernetes",
        "kind": "InferenceService",
        "name": "summarizer",
        "ready": True,
        "reason": "Ready=True",
        "sources": ["Model/summarizer", "GpuPool/a10"],
    }
    text = rendered(service.origin, FILE)
    assert text.startswith(f"# Rendered by controlplane from commit {first}")
    manifest = yaml.safe_load(text)
    predictor = manifest["spec"]["predictor"]
    assert predictor["model"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert predictor["nodeSelector"] == {"node.kubernetes.io/instance-type": "g5.12xlarge"}
    files = git(service.origin, "ls-tree", "-r", "--name-only", "rendered").split()
    assert sorted(files) == [
        "rendered/dev/argocd-application-controlplane-dev.yaml",
        "rendered/dev/flux-gitrepository-controlplane-dev.yaml",
        "rendered/dev/flux-kustomization-controlplane-dev.yaml",
        FILE,
    ]
    renders = git(service.origin, "rev-list", "--count", "rendered")

    # Tensor parallelism 1 -> 2: exactly the engine flag and the GPUs change on the branch.
    model = service.work / MODEL
    model.write_text(
        model.read_text().replace(
            "tensorParallel: 1\n  pool: a10", "tensorParallel: 2\n  pool: a10"
        )
    )
    second = push(service, "Shard the summarizer over 2 GPUs")
    diff = git(service.origin, "diff", "rendered~1", "rendered", "--", FILE)
    changed = sorted(
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    )
    header = "# Rendered by controlplane from commit {}: edit the config repository, not this file."
    assert changed == sorted(
        [
            "-" + header.format(first),
            "+" + header.format(second),
            "-      - --tensor-parallel-size=1",
            "+      - --tensor-parallel-size=2",
            "-          nvidia.com/gpu: '1'",
            "+          nvidia.com/gpu: '2'",
            "-          nvidia.com/gpu: '1'",
            "+          nvidia.com/gpu: '2'",
        ]
    ), diff
    assert int(git(service.origin, "rev-list", "--count", "rendered")) == int(renders) + 1
    # The pull request's plan shows the same manifest diff, beside the GPU and $ delta.
    comment = subprocess.run(
        [
            *(sys.executable, "-m", "controlplane", "plan", str(service.work), "--env", "dev"),
            *("--rev", second, "--live-from", first, "--output", "markdown"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    manifests = comment.split("### controlplane plan: `dev`, target `kubernetes`")[1]
    assert "GPUs 1 → 2 (+1)" in manifests
    assert "`InferenceService/summarizer`" in manifests
    args = '`spec.predictor.model.args[2]`: `"--tensor-parallel-size=1"`'
    assert f'{args} → `"--tensor-parallel-size=2"`' in manifests, manifests

    # The rollback: a revert merged on main renders the previous manifest again.
    git(service.work, "revert", "--no-edit", second)
    git(service.work, "push", "-q", "origin", "main")
    reverted = git(service.work, "rev-parse", "HEAD")
    service.webhook()
    wait_for("the sync of the revert", service.synced_at(reverted))
    back = yaml.safe_load(rendered(service.origin, FILE))
    assert back == manifest
    # An apply that changes no manifest commits nothing to the branch.
    count = git(service.origin, "rev-list", "--count", "rendered")
    readme = service.work / "README.md"
    readme.write_text("notes\n")
    push(service, "A note, no config change")
    assert git(service.origin, "rev-list", "--count", "rendered") == count

    # A LoRA adapter: KServe downloads it beside the base model, vLLM loads it.
    model.write_text(
        model.read_text().replace(
            "  maxModelLen: 8192\n",
            "  maxModelLen: 8192\n  adapter: {name: digest, uri: 's3://models/digest-v1/'}\n",
        )
    )
    push(service, "A digest adapter for the summarizer")
    predictor = yaml.safe_load(rendered(service.origin, FILE))["spec"]["predictor"]
    assert predictor["storageUris"] == [
        {"mountPath": "/mnt/models/base", "uri": "hf://Qwen/Qwen2.5-7B-Instruct"},
        {"mountPath": "/mnt/models/adapters/digest", "uri": "s3://models/digest-v1/"},
    ]
    assert "--lora-modules=digest=/mnt/models/adapters/digest" in predictor["model"]["args"]

    # Another pool: the node selector and the accelerator move with it, nothing else.
    (service.work / MODEL).write_text(
        (service.work / MODEL).read_text().replace("pool: a10\n", "pool: l40s\n") + L40S
    )
    push(service, "Move the summarizer to the L40S pool")
    diff = git(service.origin, "diff", "rendered~1", "rendered", "--", FILE)
    moved = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and line[:3] not in ("+++", "---") and "# Rendered by" not in line
    ]
    assert sorted(moved) == sorted(
        [
            "-    controlplane.dev/accelerator: nvidia-a10g",
            "+    controlplane.dev/accelerator: nvidia-l40s",
            "-      node.kubernetes.io/instance-type: g5.12xlarge",
            "+      node.kubernetes.io/instance-type: g6e.12xlarge",
        ]
    ), diff
