"""GitLab REST v4: merge requests, their labels, reviewers (by user id) and notes."""

from __future__ import annotations

from urllib.parse import quote

from controlplane.errors import ForgeError
from controlplane.forge.answers import GitLabMergeRequest, GitLabUser
from controlplane.forge.base import PullRequest
from controlplane.forge.http import ForgeHttp


class GitLab:
    name = "gitlab"

    def __init__(self, http: ForgeHttp, repository: str) -> None:
        self.http = http
        self.project = f"/projects/{quote(repository, safe='')}"

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def open_pull_requests(self) -> list[PullRequest]:
        items = self.http.pages(
            f"{self.project}/merge_requests",
            GitLabMergeRequest,
            {"state": "opened", "per_page": 100},
        )
        return [_merge_request(item) for item in items]

    def pull_request(self, number: int) -> PullRequest:
        found = self.http.request("GET", f"{self.project}/merge_requests/{number}")
        return _merge_request(self.http.parse(found, GitLabMergeRequest))

    def create_pull_request(self, head: str, base: str, title: str, body: str) -> PullRequest:
        created = self.http.request(
            "POST",
            f"{self.project}/merge_requests",
            json={
                "source_branch": head,
                "target_branch": base,
                "title": title,
                "description": body,
                "remove_source_branch": True,
            },
        )
        return _merge_request(self.http.parse(created, GitLabMergeRequest))

    def add_labels(self, number: int, labels: list[str]) -> None:
        self.http.request(
            "PUT",
            f"{self.project}/merge_requests/{number}",
            json={"add_labels": ",".join(labels)},
        )

    def request_reviewers(self, number: int, reviewers: list[str]) -> None:
        ids = []
        for username in reviewers:
            found = self.http.request("GET", "/users", params={"username": username})
            users = self.http.parse(found, list[GitLabUser])
            if not users:
                raise ForgeError(f"gitlab: no user {username!r} to request a review from")
            ids.append(users[0].id)
        self.http.request(
            "PUT", f"{self.project}/merge_requests/{number}", json={"reviewer_ids": ids}
        )

    def merge_pull_request(self, number: int, title: str) -> None:
        self.http.request(
            "PUT",
            f"{self.project}/merge_requests/{number}/merge",
            json={"merge_commit_message": title},
        )

    def comment(self, number: int, body: str) -> None:
        self.http.request(
            "POST", f"{self.project}/merge_requests/{number}/notes", json={"body": body}
        )


def _merge_request(item: GitLabMergeRequest) -> PullRequest:
    return PullRequest(
        number=item.iid,
        url=item.web_url,
        head=item.source_branch,
        base=item.target_branch,
        title=item.title,
        body=item.description or "",
        open=item.state == "opened",
        labels=tuple(item.labels),
        merged=item.state == "merged",
    )
