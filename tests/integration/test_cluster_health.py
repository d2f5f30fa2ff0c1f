"""Health read back from a cluster with the official Kubernetes client, against a labelled
STAND-IN API server (tests/support/kube_standin.py) whose recorded responses are first checked
against the published schemas; and through the driver, per Model."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controlplane import engine
from controlplane.cluster import ClusterHealth
from controlplane.serving import kubernetes
from controlplane.spec.environment import KubernetesTargetConfig
from controlplane.targets.kubernetes import KubernetesDriver
from tests.support.config import REPO
from tests.support.kube_standin import kubeconfig, kubernetes_standin
from tests.support.kubernetes_schemas import validate_core, validate_kserve
from tests.support.processes import free_port

pytestmark = pytest.mark.integration
NS = "llm-prod"


def isvc(name: str, ready: str, reason: str = "") -> dict[str, Any]:
    """A recorded InferenceService: the rendered manifest plus the status KServe writes."""
    state = engine.desired_state(REPO, "prod")
    config = KubernetesTargetConfig.model_validate(
        {"type": "kubernetes", "namespace": NS, "repoUrl": "https://x.example/c.git"}
    )
    found = next(o for o in kubernetes.manifests(config, state) if o.name == name)
    document = copy.deepcopy(dict(found.document))
    condition = {"type": "Ready", "status": ready, "lastTransitionTime": "2026-11-25T10:00:00Z"}
    if reason:
        condition |= {"reason": reason, "message": "0/1 replicas available"}
    document["status"] = {"conditions": [condition], "url": f"http://{name}.{NS}.example.com"}
    return document


def deployment(name: str, available: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.11.0"}]},
            },
        },
        "status": {
            "conditions": [
                {
                    "type": "Available",
                    "status": available,
                    "reason": "MinimumReplicasAvailable",
                    "message": "Deployment has minimum availability.",
                }
            ]
        },
    }


RECORDED = {
    ("InferenceService", NS, "chat-v1"): isvc("chat-v1", "True"),
    ("InferenceService", NS, "chat-v2"): isvc("chat-v2", "False", "RevisionMissing"),
    ("Deployment", NS, "chat-small"): deployment("chat-small", "True"),
}


def test_the_recorded_responses_are_shaped_by_the_published_api() -> None:
    for (kind, _, _), document in RECORDED.items():
        if kind == "Deployment":
            validate_core(document)
        else:
            validate_kserve(document, "V1beta1InferenceService", kind)


def test_readiness_comes_from_each_objects_conditions() -> None:
    with kubernetes_standin(RECORDED) as url:
        health = ClusterHealth(kubeconfig(), url, NS)
        ready = health.read("InferenceService", "chat-v1")
        assert ready.ready is True
        assert ready.reason == "Ready=True"
        waiting = health.read("InferenceService", "chat-v2")
        assert waiting.ready is False
        assert "RevisionMissing" in waiting.reason
        assert health.read("Deployment", "chat-small").ready is True
        missing = health.read("InferenceService", "chat-small")
        assert missing.ready is None
        assert "not found" in missing.reason
    # Nothing listens: unknown, with the reason, never an exception.
    gone = ClusterHealth(kubeconfig(), f"http://127.0.0.1:{free_port()}", NS)
    unreachable = gone.read("InferenceService", "chat-v1")
    assert unreachable.ready is None
    assert "cluster unreachable" in unreachable.reason


def test_a_wrong_token_is_not_health() -> None:
    with kubernetes_standin(RECORDED) as url:
        wrong = ClusterHealth(kubeconfig().replace("stand-in-token", "nope"), url, NS)
        found = wrong.read("InferenceService", "chat-v1")
    assert found.ready is None
    assert "401" in found.reason


def test_the_driver_reports_each_models_serving_object(tmp_path: Any) -> None:
    state = engine.desired_state(REPO, "prod")
    config = KubernetesTargetConfig.model_validate(
        {"type": "kubernetes", "namespace": NS, "repoUrl": "https://x.example/c.git"}
    )
    with kubernetes_standin(RECORDED) as url:
        driver = KubernetesDriver(config, store=None, health=ClusterHealth(kubeconfig(), url, NS))  # type: ignore[arg-type]
        found = {h.name: h for h in driver.health(state)}
    assert set(found) == {"chat-small", "chat-v1", "chat-v2"}
    assert found["chat-v1"].ready is True
    assert found["chat-v1"].sources == ("Model/chat-v1", "GpuPool/h100")
    assert found["chat-v2"].ready is False
    assert found["chat-small"].ready is None  # its InferenceService is not on this cluster
