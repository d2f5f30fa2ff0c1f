"""STAND-IN, NOT A FORGE: a local imitation of the GitHub REST pulls subset, for tests and the demo.

A public forge's HTTP API cannot run on this machine, so this serves the few GitHub endpoints
rollback uses over a local bare repository: list/get/create pull requests (with Link
pagination), labels, requested reviewers, issue comments, and merge (a real merge commit in the
bare repository, after which a signed push webhook is sent, as GitHub would). Its request and
response shapes are checked in tests against GitHub's published OpenAPI description. Nothing in
controlplane's product code imports it; `controlplane forge-standin` runs it.
"""

from __future__ import annotations

import hmac
import json
import threading
import zlib
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import git
import httpx
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from controlplane.signatures import signature_header

LABEL_COLOR = "d73a4a"


@dataclass
class _Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    created_at: str
    state: str = "open"
    merged_at: str | None = None
    merge_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ForgeStandIn:
    def __init__(
        self,
        repository: Path,
        token: str,
        owner_repo: str = "local/config",
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        public_url: str = "http://127.0.0.1",
    ) -> None:
        self.repo = git.Repo(repository)
        self.token = token
        self.full_name = owner_repo
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.public_url = public_url.rstrip("/")
        self.pulls: dict[int, _Pull] = {}
        self.lock = threading.Lock()

    # --- GitHub-shaped documents -----------------------------------------------------------

    def _ref(self, branch: str) -> dict[str, Any]:
        try:
            sha = self.repo.commit(branch).hexsha
        except (git.BadName, ValueError):
            sha = "0" * 40
        owner = self.full_name.split("/")[0]
        return {"ref": branch, "sha": sha, "label": f"{owner}:{branch}"}

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": zlib.crc32(login.encode()) % 100_000, "type": "User"}

    def _label(self, name: str) -> dict[str, Any]:
        return {
            "id": zlib.crc32(name.encode()) % 100_000,
            "name": name,
            "color": LABEL_COLOR,
            "default": False,
            "description": "",
        }

    def document(self, pull: _Pull) -> dict[str, Any]:
        api = f"{self.public_url}/repos/{self.full_name}/pulls/{pull.number}"
        return {
            "url": api,
            "id": pull.number,
            "html_url": f"{self.public_url}/{self.full_name}/pull/{pull.number}",
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "user": self._user("controlplane"),
            "labels": [self._label(n) for n in pull.labels],
            "requested_reviewers": [self._user(r) for r in pull.reviewers],
            "head": self._ref(pull.head),
            "base": self._ref(pull.base),
            "created_at": pull.created_at,
            "updated_at": pull.created_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_sha,
            "draft": False,
        }

    # --- operations --------------------------------------------------------------------------

    def create(self, title: str, head: str, base: str, body: str) -> _Pull:
        with self.lock:
            for branch in (head, base):
                if branch not in [h.name for h in self.repo.heads]:
                    raise HTTPException(
                        422,
                        {
                            "message": "Validation Failed",
                            "errors": [{"field": "head", "code": "invalid"}],
                        },
                    )
            if any(p.head == head and p.state == "open" for p in self.pulls.values()):
                raise HTTPException(422, {"message": f"A pull request already exists for {head}."})
            pull = _Pull(len(self.pulls) + 1, title, body, head, base, _now())
            self.pulls[pull.number] = pull
            return pull

    def merge(self, number: int) -> str:
        """A merge commit of head into base, made in the bare repository, then the webhook."""
        with self.lock:
            pull = self.get(number)
            if pull.state != "open":
                raise HTTPException(405, {"message": "Pull Request is not mergeable"})
            before = self.repo.commit(pull.base).hexsha
            try:
                tree = self.repo.git.merge_tree("--write-tree", pull.base, pull.head).split()[0]
            except git.GitCommandError as exc:
                raise HTTPException(405, {"message": "Merge conflict"}) from exc
            message = f"Merge pull request #{pull.number} from {pull.head}\n\n{pull.title}"
            with self.repo.git.custom_environment(
                GIT_AUTHOR_NAME="forge-standin",
                GIT_AUTHOR_EMAIL="forge-standin@localhost",
                GIT_COMMITTER_NAME="forge-standin",
                GIT_COMMITTER_EMAIL="forge-standin@localhost",
            ):
                sha = self.repo.git.commit_tree(
                    tree, "-p", before, "-p", self.repo.commit(pull.head).hexsha, "-m", message
                )
            self.repo.git.update_ref(f"refs/heads/{pull.base}", sha, before)
            pull.state, pull.merged_at, pull.merge_sha = "closed", _now(), sha
        self._push_webhook(pull.base, before, sha)
        return str(sha)

    def _push_webhook(self, branch: str, before: str, after: str) -> None:
        if not self.webhook_url or not self.webhook_secret:
            return
        payload = json.dumps(
            {
                "ref": f"refs/heads/{branch}",
                "before": before,
                "after": after,
                "repository": {"full_name": self.full_name},
            }
        ).encode()
        with suppress(httpx.HTTPError):  # polling picks the merge up anyway
            httpx.post(
                self.webhook_url,
                content=payload,
                headers={
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "push",
                    "X-Hub-Signature-256": signature_header(self.webhook_secret, payload),
                },
                timeout=10,
            )

    def get(self, number: int) -> _Pull:
        if number not in self.pulls:
            raise HTTPException(404, {"message": "Not Found"})
        return self.pulls[number]


def create_forge_app(forge: ForgeStandIn) -> FastAPI:
    app = FastAPI(title="forge stand-in (GitHub pulls subset; not a forge)")

    def auth(authorization: Annotated[str | None, Header()] = None) -> None:
        presented = (authorization or "").removeprefix("Bearer ").removeprefix("token ").strip()
        if not hmac.compare_digest(presented.encode(), forge.token.encode()):
            raise HTTPException(401, {"message": "Bad credentials"})

    @app.exception_handler(StarletteHTTPException)
    async def github_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # GitHub's error documents are {"message": ...} at the top level
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        return JSONResponse(detail, exc.status_code, headers=exc.headers)

    prefix = "/repos/{owner}/{repo}"
    secured = [Depends(auth)]

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "standIn": "GitHub pulls subset; not a forge"}

    @app.get(prefix + "/pulls", dependencies=secured)
    def list_pulls(
        request: Request,
        response: Response,
        state: str = "open",
        per_page: int = 30,
        page: int = 1,
    ) -> list[dict[str, Any]]:
        chosen = [p for p in forge.pulls.values() if state == "all" or p.state == state]
        per_page = max(1, min(per_page, 100))
        if page * per_page < len(chosen):
            following = request.url.include_query_params(page=page + 1)
            response.headers["Link"] = f'<{following}>; rel="next"'
        return [forge.document(p) for p in chosen[(page - 1) * per_page : page * per_page]]

    @app.post(prefix + "/pulls", status_code=201, dependencies=secured)
    def create_pull(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        pull = forge.create(
            str(payload.get("title", "")),
            str(payload.get("head", "")),
            str(payload.get("base", "")),
            str(payload.get("body") or ""),
        )
        return forge.document(pull)

    @app.get(prefix + "/pulls/{number}", dependencies=secured)
    def get_pull(number: int) -> dict[str, Any]:
        return forge.document(forge.get(number))

    @app.patch(prefix + "/pulls/{number}", dependencies=secured)
    def update_pull(number: int, payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """GitHub's "Update a pull request": only `state: closed` (close without merging)."""
        pull = forge.get(number)
        if payload.get("state") == "closed":
            with forge.lock:
                pull.state = "closed"
        return forge.document(pull)

    @app.put(prefix + "/pulls/{number}/merge", dependencies=secured)
    def merge_pull(number: int) -> dict[str, Any]:
        sha = forge.merge(number)
        return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}

    @app.post(prefix + "/issues/{number}/labels", dependencies=secured)
    def add_labels(number: int, payload: Annotated[dict[str, Any], Body()]) -> list[Any]:
        pull = forge.get(number)
        for name in payload.get("labels", []):
            if name not in pull.labels:
                pull.labels.append(str(name))
        return [forge._label(n) for n in pull.labels]

    @app.post(prefix + "/pulls/{number}/requested_reviewers", status_code=201, dependencies=secured)
    def request_reviewers(
        number: int, payload: Annotated[dict[str, Any], Body()]
    ) -> dict[str, Any]:
        pull = forge.get(number)
        pull.reviewers += [str(r) for r in payload.get("reviewers", []) if r not in pull.reviewers]
        return forge.document(pull)

    @app.post(prefix + "/issues/{number}/comments", status_code=201, dependencies=secured)
    def comment(number: int, payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        pull = forge.get(number)
        note = {
            "id": len(pull.comments) + 1,
            "body": str(payload.get("body", "")),
            "user": forge._user("controlplane"),
            "created_at": _now(),
        }
        pull.comments.append(note)
        return note

    @app.get(prefix + "/issues/{number}/comments", dependencies=secured)
    def comments(number: int) -> list[dict[str, Any]]:
        return forge.get(number).comments

    return app
