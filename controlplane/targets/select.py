"""Build the drivers an environment's config names (the only place that knows them all)."""

from __future__ import annotations

from controlplane.credentials import resolve_secret
from controlplane.errors import ConfigError
from controlplane.spec import Environment
from controlplane.spec.environment import GatewayTarget, LiteLLMTarget
from controlplane.targets import Target
from controlplane.targets.gateway import GatewayDriver


def drivers_for(environment: Environment) -> list[Target]:
    drivers: list[Target] = []
    for config in environment.spec.targets:
        match config:
            case GatewayTarget():
                if config.token is None:
                    raise ConfigError(
                        f"environment {environment.name!r}: gateway target {config.name!r} has "
                        "no token; the admin API requires one (e.g. token: env:VAR)"
                    )
                drivers.append(GatewayDriver(config.name, config.url, resolve_secret(config.token)))
            case LiteLLMTarget():
                raise ConfigError(
                    f"environment {environment.name!r}: the litellm driver is not built yet; "
                    "use a gateway target"
                )
    return drivers
