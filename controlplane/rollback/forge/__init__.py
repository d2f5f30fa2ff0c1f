"""Forge clients behind one interface, chosen by an environment's `forge.type`."""

from __future__ import annotations

from controlplane.credentials import resolve_secret
from controlplane.rollback.forge.base import Forge, ForgeError, PullRequest
from controlplane.rollback.forge.gitea import Gitea
from controlplane.rollback.forge.github import GitHub
from controlplane.rollback.forge.gitlab import GitLab
from controlplane.rollback.forge.http import ForgeHttp
from controlplane.spec.environment import Forge as ForgeSpec

__all__ = [
    "Forge",
    "ForgeError",
    "ForgeHttp",
    "GitHub",
    "GitLab",
    "Gitea",
    "PullRequest",
    "forge_for",
]

CLIENTS: dict[str, type[GitHub] | type[GitLab]] = {
    "github": GitHub,
    "gitlab": GitLab,
    "gitea": Gitea,
}


def forge_for(spec: ForgeSpec) -> Forge:
    """The client for an environment's forge, its token resolved from its reference."""
    client = CLIENTS[spec.type]
    http = ForgeHttp(spec.url, client.headers(resolve_secret(spec.token)), spec.type)
    return client(http, spec.repository)
