"""Readiness of rendered objects, from their `status.conditions` (the official `kubernetes`
client): an InferenceService is ready when its `Ready` condition is True, a Deployment when its
`Available` condition is. Read-only: controlplane never writes to the cluster (Argo CD or Flux
do, from the rendered branch)."""

from __future__ import annotations

from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from controlplane.spec import ObjectHealth

# kind -> (API group, version, plural, the condition that means ready)
CUSTOM = {"InferenceService": ("serving.kserve.io", "v1beta1", "inferenceservices", "Ready")}
DEPLOYMENT_READY = "Available"
TIMEOUT = 5.0


class ClusterHealth:
    def __init__(self, kubeconfig: str, api_server: str, namespace: str) -> None:
        """`kubeconfig`: its YAML; its current cluster's server is replaced by `api_server`."""
        self.namespace = namespace
        self._kubeconfig = kubeconfig
        self._api_server = api_server.rstrip("/")
        self._api: client.ApiClient | None = None

    def _client(self) -> client.ApiClient:
        if self._api is None:
            document = yaml.safe_load(self._kubeconfig)
            if not isinstance(document, dict):
                raise ConfigException("the kubeconfig is not a YAML mapping")
            for entry in document.get("clusters") or []:
                if isinstance(entry, dict) and isinstance(entry.get("cluster"), dict):
                    entry["cluster"]["server"] = self._api_server
            made = config.new_client_from_config_dict(  # type: ignore[no-untyped-call]
                document, persist_config=False
            )
            self._api = made
        return self._api

    def read(self, kind: str, name: str, sources: tuple[str, ...] = ()) -> ObjectHealth:
        try:
            conditions = self._conditions(kind, name)
        except ApiException as exc:
            reason = (
                "not found: not synced to the cluster yet?"
                if exc.status == 404
                else (f"HTTP {exc.status} {exc.reason}")
            )
            return ObjectHealth(kind, name, None, reason, sources)
        except (ConfigException, HTTPError, OSError, ValueError, yaml.YAMLError) as exc:
            reason = f"cluster unreachable: {type(exc).__name__}: {str(exc)[:200]}"
            return ObjectHealth(kind, name, None, reason, sources)
        wanted = CUSTOM[kind][3] if kind in CUSTOM else DEPLOYMENT_READY
        found = next((c for c in conditions if c.get("type") == wanted), None)
        if found is None:
            return ObjectHealth(kind, name, None, f"no {wanted} condition yet", sources)
        ready = str(found.get("status")) == "True"
        detail = ": ".join(str(found[k]) for k in ("reason", "message") if found.get(k))
        return ObjectHealth(
            kind,
            name,
            ready,
            f"{wanted}={found.get('status')}" + (f" ({detail})" if detail else ""),
            sources,
        )

    def _conditions(self, kind: str, name: str) -> list[dict[str, Any]]:
        api = self._client()
        if kind in CUSTOM:
            group, version, plural, _ = CUSTOM[kind]
            found = client.CustomObjectsApi(api).get_namespaced_custom_object(
                group, version, self.namespace, plural, name, _request_timeout=TIMEOUT
            )
            status = found.get("status") if isinstance(found, dict) else None
            conditions = (status or {}).get("conditions") or []
            return [c for c in conditions if isinstance(c, dict)]
        deployment = client.AppsV1Api(api).read_namespaced_deployment_status(
            name, self.namespace, _request_timeout=TIMEOUT
        )
        return [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
            for c in (deployment.status.conditions if deployment.status else None) or []
        ]
