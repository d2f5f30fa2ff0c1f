"""Forge answers as typed values (pydantic): only the fields rollback reads. An answer is
untrusted: one that does not parse is a ForgeError (recorded and retried), never a crash."""

from __future__ import annotations

from pydantic import Field

from controlplane.answers import Answer as _Answer


class Ref(_Answer):
    ref: str


class Named(_Answer):
    name: str


class GitHubPull(_Answer):
    """A GitHub (or Gitea) pull request."""

    number: int
    html_url: str = ""
    head: Ref
    base: Ref
    title: str = ""
    body: str | None = None
    state: str = ""
    labels: list[Named] = Field(default_factory=list)
    merged_at: str | None = None


class GitLabMergeRequest(_Answer):
    iid: int
    web_url: str = ""
    source_branch: str
    target_branch: str
    title: str = ""
    description: str | None = None
    state: str = ""
    labels: list[str] = Field(default_factory=list)


class GiteaLabel(_Answer):
    id: int
    name: str


class GitLabUser(_Answer):
    id: int
