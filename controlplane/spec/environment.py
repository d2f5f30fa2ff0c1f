"""Environment: which live targets an environment drives, and how it is reconciled."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import HttpUrl, Name, Resource, SecretRef, SpecModel


class GatewayTargetConfig(SpecModel):
    type: Literal["gateway"] = Field(description="The embedded controlplane gateway.")
    name: Name = Field(default="gateway", description="Name of this target in plans and status.")
    url: HttpUrl = Field(description="Base URL of the gateway's admin API.")
    token: SecretRef | None = Field(
        default=None, description="Bearer token for the admin API, by reference."
    )


class LiteLLMTargetConfig(SpecModel):
    type: Literal["litellm"] = Field(description="A LiteLLM proxy.")
    name: Name = Field(default="litellm", description="Name of this target in plans and status.")
    url: HttpUrl = Field(description="Base URL of the LiteLLM proxy.")
    master_key: SecretRef | None = Field(
        default=None, description="The proxy's master key, by reference."
    )


TargetConfig = Annotated[GatewayTargetConfig | LiteLLMTargetConfig, Field(discriminator="type")]


class PrometheusConfig(SpecModel):
    url: HttpUrl = Field(description="Base URL of the Prometheus HTTP API.")
    bearer_token: SecretRef | None = Field(
        default=None, description="Bearer token for Prometheus, by reference."
    )
    dialect: Literal["gateway", "vllm", "litellm", "otel-genai"] = Field(
        default="gateway",
        description="Which metric names the serving layer exports: the embedded gateway's, "
        "vLLM's, LiteLLM's or the OpenTelemetry GenAI conventions.",
    )


class ForgeConfig(SpecModel):
    type: Literal["github", "gitlab", "gitea"] = Field(
        description="The git forge that hosts the config repository (Gitea covers Forgejo)."
    )
    url: HttpUrl = Field(description="Base URL of the forge's API, e.g. https://api.github.com.")
    repository: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
        description="The config repository as owner/name (GitLab: group/subgroup/name).",
    )
    token: SecretRef = Field(description="API token for opening pull requests, by reference.")
    base_branch: str = Field(default="main", description="Branch that pull requests target.")
    reviewers: list[str] = Field(
        default_factory=list, description="Users asked to review rollback pull requests."
    )
    labels: list[str] = Field(
        default_factory=list,
        description="Labels added to rollback pull requests, besides rollback and env:<name>.",
    )


class EnvironmentSpec(SpecModel):
    targets: list[TargetConfig] = Field(
        min_length=1, description="The live systems this environment drives."
    )
    prometheus: PrometheusConfig | None = Field(
        default=None, description="Where policies read metrics for this environment."
    )
    forge: ForgeConfig | None = Field(
        default=None, description="Where rollback pull requests are opened."
    )
    prune: bool = Field(
        default=False,
        description="Delete live objects that controlplane created and the config no longer "
        "has. Objects controlplane did not create are never deleted.",
    )
    self_heal: bool = Field(
        default=False,
        description="Revert drift (live changes made outside git) on every poll, as Argo CD's "
        "selfHeal does. Off: drift is reported only.",
    )


class Environment(Resource):
    KIND: ClassVar[str] = "Environment"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Environment"] = Field(description="Always Environment.")
    spec: EnvironmentSpec = Field(description="Targets, metric source, forge and sync settings.")
