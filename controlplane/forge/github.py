"""GitHub REST v3: pull requests, labels, reviewers and comments (issue comments on the PR)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

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
        items = self.http.pages(f"{self.repo}/pulls", {"state": "open", **self.page_size})
        return [_pull(item) for item in items]

    def pull_request(self, number: int) -> PullRequest:
        return _pull(self.http.request("GET", f"{self.repo}/pulls/{number}").json())

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        created = self.http.request(
            "POST",
            f"{self.repo}/pulls",
            json={"title": title, "head": head, "base": base, "body": body},
        )
        return _pull(created.json())

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


def _pull(item: dict[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(item["number"]),
        url=str(item.get("html_url", "")),
        head=str(item["head"]["ref"]),
        base=str(item["base"]["ref"]),
        title=str(item.get("title", "")),
        body=str(item.get("body") or ""),
        open=item.get("state") == "open",
        labels=tuple(str(label["name"]) for label in item.get("labels") or []),
    )
