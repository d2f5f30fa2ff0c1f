"""Kubernetes manifests for the Models an environment runs on its GPU pools.

Pure: from the desired state and the target's settings to Kubernetes objects, each as a
`Managed` whose document is the whole manifest. Two layouts:
- `kserve`: one KServe `InferenceService` (serving.kserve.io/v1beta1) per Model, vLLM behind
  KServe's Hugging Face runtime;
- `deployment`: one `Deployment` running `vllm serve` and one `Service` per Model, and, when the
  target asks, one `InferencePool` (inference.networking.k8s.io/v1) for model-aware routing.
A Model is rendered when it runs on a pool (a self-hosted framework with `pool` set); what the
chosen layout cannot express is refused by `unsupported` (controlplane.serving.support), never
dropped. Output is deterministic: the same state renders the same objects, byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controlplane.spec import DesiredState, GpuPool, Managed, Model
from controlplane.spec.environment import KubernetesLayout, KubernetesTargetConfig
from controlplane.spec.model import Framework, Quantization

INFERENCE_SERVICE = "InferenceService"
DEPLOYMENT = "Deployment"
SERVICE = "Service"
INFERENCE_POOL = "InferencePool"
APPLICATION = "Application"  # Argo CD
GIT_REPOSITORY = "GitRepository"  # Flux source
KUSTOMIZATION = "Kustomization"  # Flux
KINDS = (
    INFERENCE_SERVICE,
    DEPLOYMENT,
    SERVICE,
    INFERENCE_POOL,
    APPLICATION,
    GIT_REPOSITORY,
    KUSTOMIZATION,
)
# Where KServe's storage initializer puts what it downloads, and vLLM then reads.
MODEL_DIR = "/mnt/models"
GPU = "nvidia.com/gpu"
PORT = 8000
EPP_PORT = 9002  # the endpoint picker's gRPC port, as the Inference Extension's examples
MANAGED_BY = {"app.kubernetes.io/managed-by": "controlplane"}

# vLLM's --quantization for the precisions it takes from the weights' own format, and --dtype
# for the unquantized ones. int8 and int4 name a size, not a method (AWQ, GPTQ, bitsandbytes...):
# vLLM reads the method from a quantized checkpoint, so nothing is passed for them.
QUANTIZATION_ARGS: Mapping[Quantization, tuple[str, ...]] = {
    Quantization.FP16: ("--dtype=float16",),
    Quantization.BF16: ("--dtype=bfloat16",),
    Quantization.FP8: ("--quantization=fp8",),
    Quantization.INT8: (),
    Quantization.INT4: (),
}


def on_kubernetes(model: Model) -> bool:
    """Whether a Model runs on the cluster: self-hosted, on a pool."""
    return model.spec.framework.self_hosted and model.spec.pool is not None


def rendered(models: list[Model]) -> list[Model]:
    return [m for m in models if on_kubernetes(m) and m.spec.framework is Framework.VLLM]


def labels(config: KubernetesTargetConfig, environment: str, model: Model) -> dict[str, str]:
    return {
        **config.labels,
        **MANAGED_BY,
        "app.kubernetes.io/name": model.name,
        "controlplane.dev/environment": environment,
    }


def vllm_args(model: Model) -> list[str]:
    """The vLLM engine arguments a Model's spec sets, in a stable order."""
    spec = model.spec
    args = [f"--served-model-name={model.name}", f"--tensor-parallel-size={spec.tensor_parallel}"]
    if spec.max_model_len is not None:
        args.append(f"--max-model-len={spec.max_model_len}")
    args += QUANTIZATION_ARGS[spec.quantization]
    args.append(f"--gpu-memory-utilization={spec.gpu_memory_utilization:g}")
    if spec.adapter is not None:
        args += ["--enable-lora", f"--lora-modules={spec.adapter.name}={spec.adapter.uri}"]
    return args


def _placement(model: Model, pools: Mapping[str, GpuPool]) -> dict[str, Any]:
    """Node selector and tolerations of the Model's pool, and its GPUs per replica."""
    pool = pools.get(model.spec.pool or "")
    placement: dict[str, Any] = {
        "tolerations": [{"effect": "NoSchedule", "key": GPU, "operator": "Exists"}]
    }
    if pool is not None and pool.spec.labels:
        placement["nodeSelector"] = dict(sorted(pool.spec.labels.items()))
    return placement


def _resources(model: Model) -> dict[str, Any]:
    gpus = str(model.spec.tensor_parallel)
    return {"limits": {GPU: gpus}, "requests": {GPU: gpus}}


def _metadata(
    config: KubernetesTargetConfig, environment: str, model: Model, pool: GpuPool | None
) -> dict[str, Any]:
    annotations = {"controlplane.dev/source": model.ref}
    if pool is not None:
        annotations["controlplane.dev/accelerator"] = pool.spec.accelerator
    return {
        "annotations": annotations,
        "labels": labels(config, environment, model),
        "name": model.name,
        "namespace": config.namespace,
    }


def inference_service(
    config: KubernetesTargetConfig, environment: str, model: Model, pools: Mapping[str, GpuPool]
) -> dict[str, Any]:
    """KServe's Hugging Face runtime with its vLLM backend. An adapter is downloaded by KServe's
    storage initializer beside the base model (storageUris), and loaded from there."""
    spec = model.spec
    args = [f"--model_name={model.name}", "--backend=vllm", *vllm_args(model)[1:]]
    served: dict[str, Any] = {
        "modelFormat": {"name": "huggingface"},
        "resources": _resources(model),
    }
    predictor: dict[str, Any] = {
        "maxReplicas": spec.replicas,
        "minReplicas": spec.replicas,
        **_placement(model, pools),
    }
    if spec.adapter is None:
        served["storageUri"] = f"hf://{spec.base_model}"
    else:
        base, adapter = f"{MODEL_DIR}/base", f"{MODEL_DIR}/adapters/{spec.adapter.name}"
        predictor["storageUris"] = [
            {"mountPath": base, "uri": f"hf://{spec.base_model}"},
            {"mountPath": adapter, "uri": spec.adapter.uri},
        ]
        args = [
            f"--model_dir={base}",
            *(a for a in args if not a.startswith("--lora-modules=")),
            f"--lora-modules={spec.adapter.name}={adapter}",
        ]
    predictor["model"] = {"args": args, **served}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": INFERENCE_SERVICE,
        "metadata": _metadata(config, environment, model, pools.get(spec.pool or "")),
        "spec": {"predictor": dict(sorted(predictor.items()))},
    }


def deployment(
    config: KubernetesTargetConfig, environment: str, model: Model, pools: Mapping[str, GpuPool]
) -> dict[str, Any]:
    spec = model.spec
    selector = {"app.kubernetes.io/name": model.name, **MANAGED_BY}
    container = {
        "args": [spec.base_model, f"--port={PORT}", *vllm_args(model)],
        "command": ["vllm", "serve"],
        "image": config.image,
        "name": "vllm",
        "ports": [{"containerPort": PORT, "name": "http", "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 10},
        "resources": _resources(model),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": DEPLOYMENT,
        "metadata": _metadata(config, environment, model, pools.get(spec.pool or "")),
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels(config, environment, model)},
                "spec": {"containers": [container], **_placement(model, pools)},
            },
        },
    }


def service(config: KubernetesTargetConfig, environment: str, model: Model) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": SERVICE,
        "metadata": _metadata(config, environment, model, None),
        "spec": {
            "ports": [{"name": "http", "port": PORT, "protocol": "TCP", "targetPort": PORT}],
            "selector": {"app.kubernetes.io/name": model.name, **MANAGED_BY},
        },
    }


def inference_pool(
    config: KubernetesTargetConfig, environment: str, model: Model
) -> dict[str, Any]:
    return {
        "apiVersion": "inference.networking.k8s.io/v1",
        "kind": INFERENCE_POOL,
        "metadata": _metadata(config, environment, model, None),
        "spec": {
            "endpointPickerRef": {"name": f"{model.name}-epp", "port": {"number": EPP_PORT}},
            "selector": {"matchLabels": {"app.kubernetes.io/name": model.name, **MANAGED_BY}},
            "targetPorts": [{"number": PORT}],
        },
    }


def sync_objects(config: KubernetesTargetConfig, environment: str) -> list[Managed]:
    """A ready-made Argo CD Application and Flux GitRepository + Kustomization for the rendered
    folder, so either can sync it (they are rendered into it too; apply the one you use)."""
    name = f"controlplane-{environment}"
    folder = config.folder(environment)
    meta = {"labels": {**config.labels, **MANAGED_BY}, "name": name}
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": APPLICATION,
        "metadata": {**meta, "namespace": "argocd"},
        "spec": {
            "destination": {
                "namespace": config.namespace,
                "server": "https://kubernetes.default.svc",
            },
            "project": "default",
            "source": {
                "path": f"{folder}/{MODELS_FOLDER}",
                "repoURL": config.repo_url,
                "targetRevision": config.branch,
            },
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": GIT_REPOSITORY,
        "metadata": {**meta, "namespace": "flux-system"},
        "spec": {"interval": "1m", "ref": {"branch": config.branch}, "url": config.repo_url},
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": KUSTOMIZATION,
        "metadata": {**meta, "namespace": "flux-system"},
        "spec": {
            "interval": "5m",
            "path": f"./{folder}/{MODELS_FOLDER}",
            "prune": True,
            "sourceRef": {"kind": GIT_REPOSITORY, "name": name},
            "targetNamespace": config.namespace,
        },
    }
    return [
        Managed(APPLICATION, name, application),
        Managed(GIT_REPOSITORY, name, repository),
        Managed(KUSTOMIZATION, name, kustomization),
    ]


def manifests(config: KubernetesTargetConfig, desired: DesiredState) -> list[Managed]:
    """Every object the environment's Models need on the cluster, in a stable order, then the
    objects that let Argo CD or Flux sync them."""
    pools = {p.name: p for p in desired.pools}
    env = desired.name
    objects: list[Managed] = []
    for model in sorted(rendered(list(desired.models)), key=lambda m: m.name):
        sources = (model.ref, *((f"GpuPool/{model.spec.pool}",) if model.spec.pool else ()))
        if config.layout is KubernetesLayout.KSERVE:
            document = inference_service(config, env, model, pools)
            objects.append(Managed(INFERENCE_SERVICE, model.name, document, sources=sources))
            continue
        document = deployment(config, env, model, pools)
        objects.append(Managed(DEPLOYMENT, model.name, document, sources=sources))
        objects.append(
            Managed(SERVICE, model.name, service(config, env, model), sources=(model.ref,))
        )
        if config.inference_pool:
            document = inference_pool(config, env, model)
            objects.append(Managed(INFERENCE_POOL, model.name, document, sources=(model.ref,)))
    return objects + sync_objects(config, env)


# The rendered folder: the Models' objects in one subfolder (what Argo CD and Flux sync), the
# objects that make them sync it beside it (argocd-*.yaml, flux-*.yaml: apply the one you use).
MODELS_FOLDER = "models"
SYNC_PREFIX = {APPLICATION: "argocd", GIT_REPOSITORY: "flux", KUSTOMIZATION: "flux"}


def file_name(kind: str, name: str) -> str:
    """The path of an object's file within the rendered folder: one file per object."""
    if kind in SYNC_PREFIX:
        return f"{SYNC_PREFIX[kind]}-{kind.lower()}-{name}.yaml"
    return f"{MODELS_FOLDER}/{kind.lower()}-{name}.yaml"
