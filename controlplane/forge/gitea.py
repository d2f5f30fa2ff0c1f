"""Gitea and Forgejo API v1. It follows GitHub's for pull requests, reviewers and comments; its
token scheme, page size and labels (set by id, created when missing) differ."""

from __future__ import annotations

from types import MappingProxyType

from controlplane.forge.answers import GiteaLabel
from controlplane.forge.github import GitHub

LABEL_COLOR = "#d73a4a"


class Gitea(GitHub):
    name = "gitea"
    page_size = MappingProxyType({"limit": 50})  # the server's default maximum

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}"}

    def add_labels(self, number: int, labels: list[str]) -> None:
        known = {
            item.name: item.id
            for item in self.http.pages(f"{self.repo}/labels", GiteaLabel, dict(self.page_size))
        }
        for name in labels:
            if name not in known:
                created = self.http.request(
                    "POST", f"{self.repo}/labels", json={"name": name, "color": LABEL_COLOR}
                )
                known[name] = self.http.parse(created, GiteaLabel).id
        self.http.request(
            "POST",
            f"{self.repo}/issues/{number}/labels",
            json={"labels": [known[name] for name in labels]},
        )

    def merge_pull_request(self, number: int, title: str) -> None:
        # Gitea merges with POST and a `Do` style instead of GitHub's PUT.
        self.http.request(
            "POST",
            f"{self.repo}/pulls/{number}/merge",
            json={"Do": "merge", "MergeTitleField": title},
        )
