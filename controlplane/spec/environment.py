"""Environment: which live targets an environment drives, and how it is reconciled."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from controlplane.spec.base import Duration, HttpUrl, Name, Resource, SecretRef, SpecModel
from controlplane.spec.notification import Notifications


class GatewayTargetConfig(SpecModel):
    type: Literal["gateway"] = Field(description="The embedded controlplane gateway.")
    name: Name = Field(default="gateway", description="Name of this target in plans and status.")
    url: HttpUrl = Field(description="Base URL of the gateway's admin API.")
    token: SecretRef | None = Field(
        default=None, description="Bearer token for the admin API, by reference."
    )


class LiteLLMMode(StrEnum):
    CONFIG_FILE = "config-file"
    ADMIN_API = "admin-api"


class LiteLLMTargetConfig(SpecModel):
    type: Literal["litellm"] = Field(description="A LiteLLM proxy.")
    name: Name = Field(default="litellm", description="Name of this target in plans and status.")
    url: HttpUrl = Field(description="Base URL of the LiteLLM proxy.")
    master_key: SecretRef = Field(
        description="The proxy's master key, by reference: every read and write needs it."
    )
    mode: LiteLLMMode = Field(
        default=LiteLLMMode.CONFIG_FILE,
        description="How changes are written: config-file (render config.yaml, run the reload "
        "command, wait until the proxy is ready) or admin-api (/model/new, /model/update, "
        "/model/delete; needs a proxy with a database).",
    )
    config_file: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^/\S+\.ya?ml$",
        description="config-file mode: the absolute path of the proxy's config.yaml, which "
        "controlplane owns and writes atomically.",
    )
    reload_command: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list,
        max_length=64,
        description="config-file mode: the command (argv, run without a shell, as serve's user) "
        "that makes the proxy load the new file, e.g. [systemctl, restart, litellm].",
    )
    ready_timeout: Duration = Field(
        default=timedelta(seconds=120),
        description="How long to wait for the proxy to answer ready after a reload.",
    )

    @model_validator(mode="after")
    def _mode_settings(self) -> LiteLLMTargetConfig:
        if self.mode is LiteLLMMode.CONFIG_FILE and (
            self.config_file is None or not self.reload_command
        ):
            raise ValueError("config-file mode needs configFile and reloadCommand")
        return self


class VllmServer(SpecModel):
    name: Name = Field(description="Name of the server in plans and status.")
    url: HttpUrl = Field(
        description="Base URL of the vLLM server (without /v1). A Model whose endpoint is this "
        "URL (plus /v1) is served here, and its adapter is loaded here."
    )
    token: SecretRef | None = Field(
        default=None, description="The server's --api-key, by reference."
    )


class VllmTargetConfig(SpecModel):
    type: Literal["vllm"] = Field(description="vLLM servers, for their runtime LoRA adapters.")
    name: Name = Field(default="vllm", description="Name of this target in plans and status.")
    servers: list[VllmServer] = Field(
        min_length=1, max_length=256, description="The servers whose adapters controlplane keeps."
    )


DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"


class KubernetesLayout(StrEnum):
    KSERVE = "kserve"
    DEPLOYMENT = "deployment"


# A Kubernetes label: an optional DNS-subdomain prefix and a name of at most 63 characters.
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
LabelKey = Annotated[str, Field(max_length=317, pattern=LABEL_KEY)]
LabelValue = Annotated[str, Field(max_length=63, pattern=LABEL_VALUE)]


class ClusterAccess(SpecModel):
    api_server: HttpUrl = Field(
        description="The cluster's API server URL; the kubeconfig's server is replaced by it, so "
        "its credentials go nowhere else."
    )
    kubeconfig: SecretRef = Field(
        description="A kubeconfig, by reference (file:/path or env:VAR holding its YAML), whose "
        "current context can get the rendered objects (read-only is enough)."
    )


class KubernetesTargetConfig(SpecModel):
    type: Literal["kubernetes"] = Field(
        description="Kubernetes, through manifests rendered into git for Argo CD or Flux."
    )
    name: Name = Field(default="kubernetes", description="Name of this target in plans and status.")
    namespace: Name = Field(description="The namespace every rendered object is in.")
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, max_length=64, description="Labels on every rendered object."
    )
    layout: KubernetesLayout = Field(
        default=KubernetesLayout.KSERVE,
        description="kserve: a KServe InferenceService per Model (vLLM behind KServe's "
        "Hugging Face runtime); deployment: a Deployment and a Service per Model running "
        "`vllm serve`, for clusters without KServe.",
    )
    inference_pool: bool = Field(
        default=False,
        description="deployment layout: also an InferencePool per Model (Gateway API Inference "
        "Extension) for model-aware routing.",
    )
    vllm_image: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=r"^\S+$",
        description="deployment layout: the container image that runs `vllm serve` (default "
        f"{DEFAULT_VLLM_IMAGE}).",
    )
    branch: str = Field(
        default="rendered",
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="The branch of the config repository the manifests are committed to.",
    )
    path: str = Field(
        default="",
        max_length=255,
        pattern=r"^([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$",
        description="The folder on that branch (default rendered/<environment>).",
    )
    health: ClusterAccess | None = Field(
        default=None,
        description="Read each Model's readiness back from the cluster (InferenceService Ready, "
        "Deployment Available), shown per Model in the status API. Without it, health is not "
        "read: Argo CD or Flux report it.",
    )
    repo_url: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^(https://|ssh://|git@)\S+$",
        description="The config repository's git URL, as Argo CD or Flux clone it: the rendered "
        "Argo CD Application and Flux GitRepository point at it.",
    )

    @model_validator(mode="after")
    def _layout_settings(self) -> KubernetesTargetConfig:
        if self.layout is KubernetesLayout.KSERVE and self.inference_pool:
            raise ValueError("inferencePool is for the deployment layout (KServe routes itself)")
        if self.layout is KubernetesLayout.KSERVE and self.vllm_image is not None:
            raise ValueError("vllmImage is for the deployment layout (KServe picks its runtime)")
        return self

    @property
    def image(self) -> str:
        return self.vllm_image or DEFAULT_VLLM_IMAGE

    def folder(self, environment: str) -> str:
        """Where on the branch this environment's manifests go."""
        return self.path or f"rendered/{environment}"


TargetConfig = Annotated[
    GatewayTargetConfig | LiteLLMTargetConfig | VllmTargetConfig | KubernetesTargetConfig,
    Field(discriminator="type"),
]


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
    notifications: Notifications = Field(
        default_factory=list,
        description="Where failed syncs, drift, failing policies, pull requests and budget "
        "thresholds are reported: Slack-compatible or signed webhooks.",
    )


class Environment(Resource):
    KIND: ClassVar[str] = "Environment"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Environment"] = Field(description="Always Environment.")
    spec: EnvironmentSpec = Field(description="Targets, metric source, forge and sync settings.")
