"""Forge clients: GitHub against the forge stand-in with every exchange checked against GitHub's
published OpenAPI description; rate limits, pagination and errors on labelled mock transports;
GitLab and Gitea request shapes as their API docs give them (mock transports, labelled)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from controlplane.errors import ForgeError
from controlplane.forge import ForgeHttp, Gitea, GitHub, GitLab
from tests.support.github_openapi import check_exchange, operation
from tests.support.processes import bare_origin, free_port, running

TOKEN = "forge-test-token"


class Recording(httpx.BaseTransport):
    """Passes requests to the real transport and keeps every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response


def test_the_github_client_speaks_githubs_published_api_to_the_stand_in(tmp_path: Path) -> None:
    origin = bare_origin(tmp_path, ("rollback/prod/slo/abc", "feature", "promote/prod/x"))
    with running(
        ["forge-standin", "--repo", str(origin), "--token", "env:FORGE_TOKEN"],
        free_port(),
        {"FORGE_TOKEN": TOKEN},
    ) as url:
        recording = Recording()
        client = GitHub(
            ForgeHttp(url, GitHub.headers(TOKEN), "github", transport=recording), "local/config"
        )
        pull = client.create_pull_request(
            "rollback/prod/slo/abc", "main", "Rollback", "body **md**"
        )
        client.create_pull_request("feature", "main", "A human's change", "")
        client.add_labels(pull.number, ["rollback", "env:prod"])
        client.request_reviewers(pull.number, ["oncall"])
        client.comment(pull.number, "passes again")
        listed = client.open_pull_requests()
        fetched = client.pull_request(pull.number)
        other = client.create_pull_request("promote/prod/x", "main", "Promote", "")
        client.merge_pull_request(other.number, "Promote")
        merged = client.pull_request(other.number)
        with pytest.raises(ForgeError, match="HTTP 422: A pull request already exists"):
            client.create_pull_request("rollback/prod/slo/abc", "main", "again", "")
        with pytest.raises(ForgeError, match="HTTP 404: Not Found"):
            client.comment(99, "nobody")
        unauthorized = GitHub(ForgeHttp(url, GitHub.headers("wrong"), "github"), "local/config")
        with pytest.raises(ForgeError, match="HTTP 401: Bad credentials"):
            unauthorized.open_pull_requests()
    assert [p.head for p in listed] == ["rollback/prod/slo/abc", "feature"]
    assert fetched.labels == ("rollback", "env:prod")
    assert (fetched.open, fetched.base, fetched.body) == (True, "main", "body **md**")
    assert (fetched.merged, merged.open, merged.merged) == (False, False, True)
    operations = [check_exchange(request, response) for request, response in recording.exchanges]
    assert operations == [
        "pulls/create",
        "pulls/create",
        "issues/add-labels",
        "pulls/request-reviewers",
        "issues/create-comment",
        "pulls/list",
        "pulls/get",
        "pulls/create",
        "pulls/merge",
        "pulls/get",
        "pulls/create",  # the 422 is a documented answer of pulls/create
        "issues/create-comment",
    ]
    for request, _ in recording.exchanges:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_the_openapi_check_catches_a_wrong_body() -> None:
    request = httpx.Request(
        "POST",
        "https://api.github.com/repos/o/r/issues/1/comments",
        json={"text": "the field is called body"},
    )
    with pytest.raises(Exception, match="'body' is a required property"):
        check_exchange(request, httpx.Response(201, json={}))
    with pytest.raises(AssertionError, match="not an operation"):
        operation("POST", "/repos/o/r/pulls/1/labels")


# --- rate limits, pagination, errors (MOCK transports: a public forge cannot run here) -----------

Handler = Callable[[httpx.Request], httpx.Response]


def client_with(handler: Handler, sleeps: list[float], max_wait: float = 60) -> ForgeHttp:
    return ForgeHttp(
        "https://forge.example/api",
        {"Authorization": "Bearer t"},
        "github",
        sleep=sleeps.append,
        max_wait=max_wait,
        transport=httpx.MockTransport(handler),
    )


def sequence(*responses: httpx.Response) -> Handler:
    queue = list(responses)
    return lambda request: queue.pop(0)


def test_rate_limits_wait_for_retry_after_or_the_reset_time() -> None:
    sleeps: list[float] = []
    http = client_with(
        sequence(
            httpx.Response(429, headers={"Retry-After": "2"}),
            httpx.Response(403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}),
            httpx.Response(200, json={"ok": True}),
        ),
        sleeps,
    )
    assert http.request("GET", "/x").json() == {"ok": True}
    assert sleeps == [2.0, 0.0]  # a reset time already past waits no longer


def test_a_rate_limit_longer_than_max_wait_is_a_clear_error() -> None:
    http = client_with(sequence(httpx.Response(429, headers={"Retry-After": "3600"})), [], 60)
    with pytest.raises(ForgeError, match="rate limited for 3600 s more"):
        http.request("GET", "/x")


def test_a_plain_403_is_an_error_not_a_rate_limit() -> None:
    http = client_with(
        sequence(httpx.Response(403, json={"message": "Resource not accessible"})), []
    )
    with pytest.raises(ForgeError, match="HTTP 403: Resource not accessible"):
        http.request("POST", "/x")


def test_server_errors_and_connection_failures_are_retried() -> None:
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(502)
        return httpx.Response(200, json=[])

    sleeps: list[float] = []
    assert client_with(flaky, sleeps).request("GET", "/x").json() == []
    assert len(calls) == 3
    assert len(sleeps) == 2


def test_pagination_follows_link_headers_and_never_leaves_the_forge() -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page < 3:
            headers["Link"] = f'<https://forge.example/api/x?page={page + 1}>; rel="next"'
        return httpx.Response(200, json=[page * 10, page * 10 + 1], headers=headers)

    assert list(client_with(pages, []).pages("/x", int)) == [10, 11, 20, 21, 30, 31]

    def elsewhere(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=[1], headers={"Link": '<https://evil.example/x>; rel="next"'}
        )

    with pytest.raises(ForgeError, match="next page is on another host"):
        list(client_with(elsewhere, []).pages("/x", int))


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>maintenance</html>", "not what the API documents"),
        (b"", "not what the API documents"),
        (b'{"number": "seven"}', "number"),
        (b'{"number": 7, "head": {"ref": "x"}}', "base"),
        (b"[" * 100_000, "not what the API documents"),
    ],
)
def test_an_answer_that_is_not_the_documented_shape_is_a_forge_error(
    body: bytes, says: str
) -> None:
    """A 200 whose body is not a pull request (STAND-IN transport) is a ForgeError with one
    short reason: the rollbacker records it and tries again, and nothing logs a traceback."""
    github = GitHub(client_with(lambda request: httpx.Response(200, content=body), []), "o/r")
    with pytest.raises(ForgeError, match=says) as raised:
        github.pull_request(7)
    assert len(str(raised.value)) < 400


# --- GitLab and Gitea request shapes (MOCK transports, per their REST docs) ------------------


def recorder(answers: dict[tuple[str, str], object]) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.raw_path.decode().split("?")[0]  # as sent: %2F stays encoded
        return httpx.Response(200, json=answers[(request.method, path)])

    return handle, seen


GITLAB_MR = {
    "iid": 7,
    "web_url": "https://gitlab.example/g/s/config/-/merge_requests/7",
    "source_branch": "rollback/prod/slo/abc",
    "target_branch": "main",
    "title": "Rollback",
    "description": "body",
    "state": "opened",
    "labels": ["rollback"],
}


def test_gitlab_merge_requests_notes_labels_and_reviewers() -> None:
    base = "/api/v4/projects/group%2Fsub%2Fconfig"
    handler, seen = recorder(
        {
            ("POST", f"{base}/merge_requests"): GITLAB_MR,
            ("GET", f"{base}/merge_requests"): [GITLAB_MR],
            ("PUT", f"{base}/merge_requests/7"): GITLAB_MR,
            ("GET", "/api/v4/users"): [{"id": 42, "username": "oncall"}],
            ("POST", f"{base}/merge_requests/7/notes"): {"id": 1},
            ("PUT", f"{base}/merge_requests/7/merge"): {**GITLAB_MR, "state": "merged"},
        }
    )
    http = ForgeHttp(
        "https://gitlab.example/api/v4",
        GitLab.headers("t"),
        "gitlab",
        transport=httpx.MockTransport(handler),
    )
    client = GitLab(http, "group/sub/config")
    pull = client.create_pull_request("rollback/prod/slo/abc", "main", "Rollback", "body")
    client.add_labels(pull.number, ["rollback", "env:prod"])
    client.request_reviewers(pull.number, ["oncall"])
    client.comment(pull.number, "passes again")
    [listed] = client.open_pull_requests()
    client.merge_pull_request(pull.number, "Promote")
    assert (pull.number, pull.open, listed.head) == (7, True, "rollback/prod/slo/abc")
    bodies = [json.loads(r.content) if r.content else None for r in seen]
    assert bodies[0] == {
        "source_branch": "rollback/prod/slo/abc",
        "target_branch": "main",
        "title": "Rollback",
        "description": "body",
        "remove_source_branch": True,
    }
    assert bodies[1] == {"add_labels": "rollback,env:prod"}
    assert seen[2].url.params["username"] == "oncall"
    assert bodies[3] == {"reviewer_ids": [42]}
    assert bodies[4] == {"body": "passes again"}
    assert seen[5].url.params["state"] == "opened"
    assert (seen[6].method, bodies[6]) == ("PUT", {"merge_commit_message": "Promote"})
    assert all(r.headers["Authorization"] == "Bearer t" for r in seen)


GITEA_PR = {
    "number": 3,
    "html_url": "https://gitea.example/o/config/pulls/3",
    "head": {"ref": "rollback/prod/slo/abc"},
    "base": {"ref": "main"},
    "title": "Rollback",
    "body": "body",
    "state": "open",
    "labels": [],
}


def test_gitea_pull_requests_with_labels_by_id_created_when_missing() -> None:
    base = "/api/v1/repos/o/config"
    handler, seen = recorder(
        {
            ("POST", f"{base}/pulls"): GITEA_PR,
            ("GET", f"{base}/labels"): [{"id": 5, "name": "rollback"}],
            ("POST", f"{base}/labels"): {"id": 6, "name": "env:prod"},
            ("POST", f"{base}/issues/3/labels"): [],
            ("POST", f"{base}/issues/3/comments"): {"id": 1},
            ("POST", f"{base}/pulls/3/merge"): {},
        }
    )
    http = ForgeHttp(
        "https://gitea.example/api/v1",
        Gitea.headers("t"),
        "gitea",
        transport=httpx.MockTransport(handler),
    )
    client = Gitea(http, "o/config")
    pull = client.create_pull_request("rollback/prod/slo/abc", "main", "Rollback", "body")
    client.add_labels(pull.number, ["rollback", "env:prod"])
    client.comment(pull.number, "passes again")
    client.merge_pull_request(pull.number, "Promote")
    bodies = [json.loads(r.content) if r.content else None for r in seen]
    assert bodies[5] == {"Do": "merge", "MergeTitleField": "Promote"}
    assert bodies[0] == {
        "head": "rollback/prod/slo/abc",
        "base": "main",
        "title": "Rollback",
        "body": "body",
    }
    assert bodies[2] == {"name": "env:prod", "color": "#d73a4a"}
    assert bodies[3] == {"labels": [5, 6]}
    assert bodies[4] == {"body": "passes again"}
    assert all(r.headers["Authorization"] == "token t" for r in seen)
