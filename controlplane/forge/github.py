"""GitHub REST v3: pull requests, labels, reviewers and comments (issue comments on the PR)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from controlplane.forge.answers import GitHubPull
from controlplane.forge.base import PullRequest
from controlplane.forge.http import ForgeHttp


class GitHub:
    name = "github"
    # The largest page the API gives.
    page_size: ClassVar[Mapping[str, int]] = MappingProxyType({"per_page": 100})

    def __init__(self, http: ForgeHttp, repository: str) -> None:
        self.http = http
        self.repo = f"/repos/{repository}"

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def open_pull_requests(self) -> list[PullRequest]:
        items = self.http.pages(
            f"{self.repo}/pulls", GitHubPull, {"state": "open", **self.page_size}
        )
        return [_pull(item) for item in items]

    def pull_request(self, number: int) -> PullRequest:
        found = self.http.request("GET", f"{self.repo}/pulls/{number}")
        return _pull(self.http.parse(found, GitHubPull))

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        created = self.http.request(
            "POST",
            f"{self.repo}/pulls",
            json={"title": title, "head": head, "base": base, "body": body},
        )
        return _pull(self.http.parse(created, GitHubPull))

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.http.request("POST", f"{self.repo}/issues/{number}/labels", json={"labels": labels})

    def request_reviewers(self, number: int, reviewers: list[str]) -> None:
        self.http.request(
            "POST",
            f"{self.repo}/pulls/{number}/requested_reviewers",
            json={"reviewers": reviewers},
        )

    def comment(self, number: int, body: str) -> None:
        self.http.request("POST", f"{self.repo}/issues/{number}/comments", json={"body": body})

    def merge_pull_request(self, number: int, title: str) -> None:
        self.http.request(
            "PUT",
            f"{self.repo}/pulls/{number}/merge",
            json={"commit_title": title, "merge_method": "merge"},
        )


def _pull(item: GitHubPull) -> PullRequest:
    return PullRequest(
        number=item.number,
        url=item.html_url,
        head=item.head.ref,
        base=item.base.ref,
        title=item.title,
        body=item.body or "",
        open=item.state == "open",
        labels=tuple(label.name for label in item.labels),
        merged=item.merged_at is not None,
    )
