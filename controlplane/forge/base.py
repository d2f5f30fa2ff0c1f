"""What rollback needs of a git forge, behind one interface: GitHub, GitLab and Gitea/Forgejo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head: str
    base: str
    title: str
    body: str
    open: bool
    labels: tuple[str, ...] = ()
    merged: bool = False


class Forge(Protocol):
    name: str

    def open_pull_requests(self) -> list[PullRequest]:
        """Every open pull request of the repository, across all pages."""
        ...

    def pull_request(self, number: int) -> PullRequest: ...

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest: ...

    def add_labels(self, number: int, labels: list[str]) -> None: ...

    def request_reviewers(self, number: int, reviewers: list[str]) -> None: ...

    def comment(self, number: int, body: str) -> None: ...

    def merge_pull_request(self, number: int, title: str) -> None:
        """Merge it with a merge commit (auto-merge of promotions), as a reviewer would."""
        ...
