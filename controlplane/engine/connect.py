"""Adapters built from an Environment's config: its targets, its forge, its metric source. The
only place that knows every driver and resolves their credentials: each as a reference written in
the config, so only where the operator allows and only for the destination it is bound to
(`resolve_config_secret`), and registered for redaction as it is resolved."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import assert_never

from controlplane.credentials import resolve_config_secret
from controlplane.errors import ConfigError
from controlplane.forge import CLIENTS, Forge, ForgeHttp
from controlplane.policy import DIALECTS, Dialect
from controlplane.prometheus import BatchingSource, PrometheusClient
from controlplane.repo import GitMirror, RenderedBranch
from controlplane.spec import DesiredState, Environment
from controlplane.spec.environment import (
    ForgeConfig,
    GatewayTargetConfig,
    KubernetesTargetConfig,
    LiteLLMTargetConfig,
    VllmTargetConfig,
)
from controlplane.targets import Target
from controlplane.targets.gateway import GatewayDriver
from controlplane.targets.kubernetes import HealthReader, KubernetesDriver
from controlplane.targets.litellm import LiteLLMDriver
from controlplane.targets.vllm import VllmDriver


@dataclass(frozen=True)
class ConfigRepository:
    """Where the config comes from, for targets that commit to it (rendered manifests): a git
    repository (serve's mirror, or a clone), and whether to push to its origin."""

    path: Path
    push: bool = False
    git_env: Mapping[str, str] = field(default_factory=dict)


def mirror_targets(mirror: GitMirror) -> Callable[[DesiredState], list[Target]]:
    """Targets for a desired state, rendered manifests going to the mirror's origin: what the
    service's reconciler, rollbacks and promotions plan against."""
    return lambda desired: targets_for(
        desired.environment, ConfigRepository(mirror.path, True, mirror.git_env())
    )


def targets_for(
    environment: Environment, repository: ConfigRepository | None = None
) -> list[Target]:
    """A driver for each of the environment's targets, in the order they are declared."""
    drivers: list[Target] = []
    for config in environment.spec.targets:
        match config:
            case GatewayTargetConfig():
                if config.token is None:
                    raise ConfigError(
                        f"environment {environment.name!r}: gateway target {config.name!r} has "
                        "no token; the admin API requires one (e.g. token: env:VAR)"
                    )
                token = resolve_config_secret(config.token, config.url)
                drivers.append(GatewayDriver(config.name, config.url, token))
            case LiteLLMTargetConfig():
                drivers.append(
                    LiteLLMDriver(
                        config.name,
                        config.url,
                        resolve_config_secret(config.master_key, config.url),
                        mode=config.mode,
                        config_file=config.config_file,
                        reload_command=config.reload_command,
                        ready_timeout=config.ready_timeout.total_seconds(),
                    )
                )
            case VllmTargetConfig():
                tokens = {
                    s.name: resolve_config_secret(s.token, s.url) if s.token else None
                    for s in config.servers
                }
                drivers.append(VllmDriver(config, tokens))
            case KubernetesTargetConfig():
                if repository is None:
                    raise ConfigError(
                        f"environment {environment.name!r}: the kubernetes target "
                        f"{config.name!r} commits to the config repository, and there is none "
                        "here (a git clone is needed)"
                    )
                store = RenderedBranch(
                    repository.path,
                    config.branch,
                    config.folder(environment.name),
                    repository.push,
                    repository.git_env,
                )
                drivers.append(KubernetesDriver(config, store, _cluster_health(config)))
            case _:
                assert_never(config)
    return drivers


def _cluster_health(config: KubernetesTargetConfig) -> HealthReader | None:
    """The cluster reader of a kubernetes target that asks for health (the `kubernetes` client
    library is an extra: `pip install 'controlplane[kubernetes]'`)."""
    if config.health is None:
        return None
    try:
        from controlplane.cluster import ClusterHealth
    except ImportError as exc:
        raise ConfigError(
            f"kubernetes target {config.name!r} reads health from the cluster, which needs the "
            "Kubernetes client library: pip install 'controlplane[kubernetes]'"
        ) from exc
    access = config.health
    kubeconfig = resolve_config_secret(access.kubeconfig, access.api_server)
    return ClusterHealth(kubeconfig, access.api_server, config.namespace)


def forge_for(config: ForgeConfig) -> Forge:
    """The client of an environment's forge, its token resolved from its reference."""
    client = CLIENTS[config.type]
    token = resolve_config_secret(config.token, config.url)
    http = ForgeHttp(config.url, client.headers(token), config.type)
    return client(http, config.repository)


def dialect_for(environment: Environment) -> Dialect:
    """The metric names the environment's serving layer exports (the gateway's by default)."""
    prometheus = environment.spec.prometheus
    return DIALECTS[prometheus.dialect if prometheus else "gateway"]


def metric_source_for(environment: Environment, url: str | None = None) -> BatchingSource | None:
    """The environment's Prometheus (or the one at `url`), with per-route questions batched;
    None when neither is set."""
    config = environment.spec.prometheus
    url = url or (config.url if config else None)
    if url is None:
        return None
    token = config.bearer_token if config else None
    client = PrometheusClient(
        url, bearer_token=resolve_config_secret(token, url) if token else None
    )
    return BatchingSource(client, dialect_for(environment).route_label)
