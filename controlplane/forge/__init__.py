"""The forge adapter: pull requests on GitHub, GitLab and Gitea/Forgejo, behind one protocol.
Clients share one HTTP layer (rate limits, retries, pagination); failures are ForgeError."""

from controlplane.forge.base import Forge, PullRequest
from controlplane.forge.gitea import Gitea
from controlplane.forge.github import GitHub
from controlplane.forge.gitlab import GitLab
from controlplane.forge.http import ForgeHttp

# The client class for each `forge.type` of an Environment.
CLIENTS: dict[str, type[GitHub] | type[GitLab]] = {
    "github": GitHub,
    "gitlab": GitLab,
    "gitea": Gitea,
}

__all__ = ["CLIENTS", "Forge", "ForgeHttp", "GitHub", "GitLab", "Gitea", "PullRequest"]
