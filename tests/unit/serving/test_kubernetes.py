"""Kubernetes manifests rendered from Models and GpuPools: every shipped environment in both
layouts against the published schemas, golden files of the rendered tree, exactly the diff a
change of the config means, and what a layout cannot express refused at validate time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from controlplane import engine
from controlplane.plan import ChangeKind, compute_plan
from controlplane.serving import kubernetes
from controlplane.serving.support import unsupported
from controlplane.spec import DesiredState, LiveState, Model
from controlplane.spec.environment import KubernetesTargetConfig
from controlplane.spec.model import Adapter, Framework, Quantization
from controlplane.targets.kubernetes import manifest_text
from tests.support.config import REPO, edit, validate
from tests.support.golden import assert_golden
from tests.support.kubernetes_schemas import validate_manifest

GOLDEN = Path(__file__).parent / "golden"
REPO_URL = "https://github.com/example-org/llm-platform-config.git"


def target(**settings: Any) -> KubernetesTargetConfig:
    return KubernetesTargetConfig.model_validate(
        {"type": "kubernetes", "namespace": "llm", "repoUrl": REPO_URL, **settings}
    )


def tree(config: KubernetesTargetConfig, state: DesiredState) -> str:
    """The rendered folder as one text: each file's path, then its content."""
    return "".join(
        f"=== {kubernetes.file_name(o.kind, o.name)}\n{manifest_text(o.document, 'commit abc123')}"
        for o in sorted(
            kubernetes.manifests(config, state),
            key=lambda o: kubernetes.file_name(o.kind, o.name),
        )
    )


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
@pytest.mark.parametrize(
    "settings", [{"layout": "kserve"}, {"layout": "deployment", "inferencePool": True}]
)
def test_every_shipped_environment_renders_objects_that_pass_their_schemas(
    environment: str, settings: dict[str, Any]
) -> None:
    state = engine.desired_state(REPO, environment)
    objects = kubernetes.manifests(target(labels={"team": "ml-platform"}, **settings), state)
    models = [m for m in state.models if kubernetes.on_kubernetes(m)]
    kinds = {o.kind for o in objects}
    assert {"Application", "GitRepository", "Kustomization"} <= kinds
    if models:
        expected = (
            {"InferenceService"}
            if settings["layout"] == "kserve"
            else {
                "Deployment",
                "Service",
                "InferencePool",
            }
        )
        assert expected <= kinds
    for managed in objects:
        validate_manifest(dict(managed.document))


def test_the_rendered_trees_are_pinned(request: pytest.FixtureRequest) -> None:
    prod = engine.desired_state(REPO, "prod")
    staging = engine.desired_state(REPO, "staging")
    assert_golden(request, GOLDEN / "kubernetes-kserve-prod.txt", tree(target(), prod))
    deployment = target(layout="deployment", inferencePool=True, labels={"team": "ml"})
    assert_golden(request, GOLDEN / "kubernetes-deployment-staging.txt", tree(deployment, staging))
    assert tree(target(), prod) == tree(target(), prod)  # deterministic


def changes_between(before: DesiredState, after: DesiredState) -> dict[str, Any]:
    """The plan from one rendering to the other: object -> field changes."""
    config = target()
    live_objects = tuple(kubernetes.manifests(config, before))
    live = LiveState(resources=(), objects=live_objects)
    plan = compute_plan(after, live, kubernetes.KINDS, kubernetes.manifests(config, after))
    return {c.ref: c for c in plan.changes}


def with_model(state: DesiredState, name: str, **spec: Any) -> DesiredState:
    models = tuple(
        m.model_copy(update={"spec": m.spec.model_copy(update=spec)}) if m.name == name else m
        for m in state.models
    )
    return replace(state, models=models)


def field_changes(change: Any) -> dict[str, tuple[Any, Any]]:
    return {f.path: (f.old, f.new) for f in change.fields}


def test_a_tensor_parallel_change_is_exactly_its_args_and_gpus() -> None:
    prod = engine.desired_state(REPO, "prod")
    changes = changes_between(prod, with_model(prod, "chat-v1", tensor_parallel=8))
    [change] = changes.values()
    assert change.ref == "InferenceService/chat-v1"
    assert change.action is ChangeKind.UPDATE
    assert field_changes(change) == {
        "spec.predictor.model.args[3]": ("--tensor-parallel-size=4", "--tensor-parallel-size=8"),
        "spec.predictor.model.resources.limits.nvidia.com/gpu": ("4", "8"),
        "spec.predictor.model.resources.requests.nvidia.com/gpu": ("4", "8"),
    }


def test_a_new_adapter_downloads_and_loads_it() -> None:
    prod = engine.desired_state(REPO, "prod")
    assert next(m for m in prod.models if m.name == "chat-small").spec.adapter is None
    added = with_model(
        prod, "chat-small", adapter=Adapter(name="support-lora", uri="s3://models/support/")
    )
    [change] = changes_between(prod, added).values()
    assert change.ref == "InferenceService/chat-small"
    after = change.after["spec"]["predictor"]
    assert after["storageUris"] == [
        {"mountPath": "/mnt/models/base", "uri": "hf://meta-llama/Llama-3.1-8B-Instruct"},
        {"mountPath": "/mnt/models/adapters/support-lora", "uri": "s3://models/support/"},
    ]
    assert "storageUri" not in after["model"]
    assert "--lora-modules=support-lora=/mnt/models/adapters/support-lora" in after["model"]["args"]
    assert "--enable-lora" in after["model"]["args"]


def test_moving_a_model_to_another_pool_moves_its_node_selector() -> None:
    prod = engine.desired_state(REPO, "prod")
    [change] = changes_between(prod, with_model(prod, "chat-small", pool="h100")).values()
    assert change.ref == "InferenceService/chat-small"
    fields = field_changes(change)
    assert fields["spec.predictor.nodeSelector"] == (
        None,
        {"node.kubernetes.io/instance-type": "p5.48xlarge"},
    )
    assert fields["metadata.annotations.controlplane.dev/accelerator"] == (
        "nvidia-l4",
        "nvidia-h100-80gb",
    )


def gaps(config: KubernetesTargetConfig, *models: Model) -> dict[tuple[str, tuple[Any, ...]], str]:
    return {(g.resource, g.path): g.reason for g in unsupported(config, models, [], [], [])}


def test_what_a_layout_cannot_express_is_refused_with_the_reason() -> None:
    prod = engine.desired_state(REPO, "prod")
    chat = next(m for m in prod.models if m.name == "chat-v1")
    int4 = chat.model_copy(
        update={"spec": chat.spec.model_copy(update={"quantization": Quantization.INT4})}
    )
    sglang = chat.model_copy(
        update={"spec": chat.spec.model_copy(update={"framework": Framework.SGLANG})}
    )
    keyed = chat.model_copy(update={"spec": chat.spec.model_copy(update={"api_key": "env:KEY"})})
    found = gaps(target(), int4)
    assert "names a size, not a method" in found[("Model/chat-v1", ("spec", "quantization"))]
    assert "vLLM servers only" in gaps(target(), sglang)[("Model/chat-v1", ("spec", "framework"))]
    assert "no API key" in gaps(target(), keyed)[("Model/chat-v1", ("spec", "apiKey"))]
    # An s3:// adapter: KServe's storage initializer fetches it; a plain vllm serve cannot.
    assert gaps(target(), chat) == {}
    deployment = gaps(target(layout="deployment"), chat)
    assert "storage initializer" in deployment[("Model/chat-v1", ("spec", "adapter", "uri"))]


def test_settings_of_the_other_layout_are_refused() -> None:
    with pytest.raises(ValueError, match="inferencePool is for the deployment layout"):
        target(inferencePool=True)
    with pytest.raises(ValueError, match="vllmImage is for the deployment layout"):
        target(vllmImage="vllm/vllm-openai:latest")
    assert target(layout="deployment", vllmImage="registry/vllm:1").image == "registry/vllm:1"


def test_validate_locates_a_gap_in_the_environment_file(config: Path) -> None:
    edit(
        config,
        "environments/staging/environment.yaml",
        "  targets:\n",
        "  targets:\n    - type: kubernetes\n      namespace: llm\n      layout: deployment\n"
        f"      repoUrl: {REPO_URL}\n",
    )
    result = validate(config, ["staging"])
    problems = [p for p in result.problems if p.path == "spec.adapter.uri"]
    assert problems, result.problems
    assert all(p.file == "environments/staging/models.yaml" and p.line > 1 for p in problems)


def test_a_custom_folder_and_branch_are_where_argo_cd_and_flux_look() -> None:
    state = engine.desired_state(REPO, "prod")
    config = target(path="clusters/prod", branch="deploy")
    by_kind = {o.kind: o.document for o in kubernetes.manifests(config, state)}
    assert by_kind["Application"]["spec"]["source"]["path"] == "clusters/prod/models"
    assert by_kind["Application"]["spec"]["source"]["targetRevision"] == "deploy"
    assert by_kind["GitRepository"]["spec"]["ref"] == {"branch": "deploy"}
    assert by_kind["Kustomization"]["spec"]["path"] == "./clusters/prod/models"
    assert config.folder("prod") == "clusters/prod"
    assert target().folder("prod") == "rendered/prod"


def test_the_deployment_layout_runs_the_configured_image() -> None:
    state = engine.desired_state(REPO, "staging")
    config = target(layout="deployment", vllmImage="registry.example.com/vllm:0.11")
    [deployment, *_] = [o for o in kubernetes.manifests(config, state) if o.kind == "Deployment"]
    [container] = deployment.document["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/vllm:0.11"
    assert container["command"] == ["vllm", "serve"]


def test_routes_need_a_target_that_routes_requests(config: Path) -> None:
    edit(
        config,
        "environments/staging/environment.yaml",
        "    - type: gateway\n      url: https://llm-gateway.staging.example.com\n"
        "      token: env:CONTROLPLANE_GATEWAY_TOKEN\n",
        f"    - type: kubernetes\n      namespace: llm\n      repoUrl: {REPO_URL}\n",
    )
    result = validate(config, ["staging"])
    unrouted = [p for p in result.problems if "route no requests" in p.found]
    assert {p.file for p in unrouted} >= {"environments/staging/routes.yaml"}, result.problems
    assert all("gateway or litellm target" in p.expected for p in unrouted)
    assert all(p.line > 1 for p in unrouted)


class Folder:
    """The rendered folder in memory, as the driver's store."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = dict(files)
        self.commits: list[str] = []

    def read(self) -> dict[str, str]:
        return dict(self.files)

    def write(self, files: Mapping[str, str], message: str) -> str | None:
        self.files = dict(files)
        self.commits.append(message)
        return str(len(self.commits))


def test_files_of_someone_else_in_the_folder_are_left_alone() -> None:
    from controlplane.targets.kubernetes import KubernetesDriver

    prod = replace(engine.desired_state(REPO, "prod"), commit="abc123")
    hand = {
        "README.md": "# not yaml: [",
        "notes.yaml": "metadata: just a string\n",
        "broken.yaml": "a: [unclosed\n",
        "models/inferenceservice-chat-v1.yaml": ": : not yaml",
    }
    folder = Folder(hand)
    driver = KubernetesDriver(target(), folder)
    live = driver.read()
    assert live.objects == ()
    plan = compute_plan(prod, live, kubernetes.KINDS, driver.wanted(prod, live))
    driver.apply_all(plan.changes)
    assert folder.files["README.md"] == hand["README.md"]  # kept
    assert folder.files["notes.yaml"] == hand["notes.yaml"]
    written = folder.files["models/inferenceservice-chat-v1.yaml"]  # ours, broken: rewritten
    assert written.startswith("# Rendered by controlplane from commit abc123")
    assert {o.name for o in driver.read().objects} >= {"chat-v1", "chat-v2", "chat-small"}
    assert folder.commits == [
        "Render GpuPool/h100, GpuPool/l4, Model/chat-small, Model/chat-v1, Model/chat-v2 from "
        "commit abc123"
    ]
