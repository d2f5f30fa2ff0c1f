"""Driver for the embedded gateway's admin API (httpx).

Timeouts on every call; retries with exponential backoff and jitter on connection errors and
5xx; a clear TargetError on 4xx. Writes are conditional (If-None-Match: * to create, If-Match to
replace or delete), and a retried write that finds its own result already there counts as done,
so applying is idempotent even when an answer is lost.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, assert_never

import httpx
from pydantic import ValidationError

from controlplane.answers import Answer, misfit
from controlplane.errors import TargetConflict, TargetError, TargetUnavailable
from controlplane.plan import Change, ChangeKind, document_of, owned_resource
from controlplane.spec import KIND_BY_NAME, LIVE_KINDS, LiveState, Resource
from controlplane.targets import Capabilities

API = "/admin/v1/resources"


class _Item(Answer):
    """One resource in the admin API's listing."""

    kind: str
    name: str
    version: int | str
    document: dict[str, Any]


class _Listing(Answer):
    version: int | str
    resources: list[_Item]


class GatewayDriver:
    capabilities = Capabilities(kinds=LIVE_KINDS, conditional_writes=True)

    def __init__(
        self,
        name: str,
        url: str,
        token: str,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def read(self) -> LiveState:
        response = self._request("GET", API)
        try:
            body = _Listing.model_validate_json(response.content)
            resources: list[Resource] = []
            versions: dict[tuple[str, str], str] = {}
            for item in body.resources:
                kind = KIND_BY_NAME.get(item.kind)
                if kind is None:
                    continue
                resources.append(kind.model_validate(item.document))
                versions[(item.kind, item.name)] = str(item.version)
        except ValidationError as exc:
            raise self._unexpected(exc) from exc
        return LiveState(resources=tuple(resources), version=str(body.version), versions=versions)

    def _unexpected(self, exc: ValidationError) -> TargetError:
        return TargetError(
            f"gateway {self.name!r}: an answer that is not the admin API's ({misfit(exc)})"
        )

    def apply(self, change: Change) -> None:
        path = f"{API}/{change.kind}/{change.name}"
        match change.action:
            case ChangeKind.CREATE | ChangeKind.UPDATE:
                assert change.after is not None
                document = owned_resource(change.kind, change.after).model_dump(
                    mode="json", by_alias=True, exclude_none=True
                )
                if change.action is ChangeKind.CREATE:
                    condition = {"If-None-Match": "*"}
                else:
                    condition = {"If-Match": f'"{change.live_version}"'}
                try:
                    self._request("PUT", path, json=document, headers=condition)
                except TargetConflict:
                    if not self._holds(change.kind, change.name, change.after):
                        raise
            case ChangeKind.DELETE:
                try:
                    self._request("DELETE", path, headers={"If-Match": f'"{change.live_version}"'})
                except TargetConflict:
                    if self._exists(path):
                        raise
            case _ as unreachable:
                assert_never(unreachable)

    def _holds(self, kind: str, name: str, document: dict[str, Any]) -> bool:
        """Whether the target already has exactly this document (our earlier try landed)."""
        response = self._request("GET", f"{API}/{kind}/{name}", allow=(404,))
        if response.status_code == 404:
            return False
        try:
            live = KIND_BY_NAME[kind].model_validate_json(response.content)
        except ValidationError as exc:
            raise self._unexpected(exc) from exc
        return document_of(live) == document

    def _exists(self, path: str) -> bool:
        return self._request("GET", path, allow=(404,)).status_code != 404

    def _request(
        self, method: str, path: str, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        for attempt in range(self._retries + 1):
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__} talking to {self._client.base_url}"
            else:
                if response.status_code < 400 or response.status_code in allow:
                    return response
                if response.status_code < 500:
                    raise _client_error(self.name, method, path, response)
                failure = f"HTTP {response.status_code} from {method} {path}"
            if attempt < self._retries:
                delay = self._backoff * 2**attempt
                self._sleep(delay + random.uniform(0, delay))  # jitter spreads retries out
        raise TargetUnavailable(f"gateway {self.name!r}: {failure} (after {self._retries} retries)")


def _client_error(name: str, method: str, path: str, response: httpx.Response) -> TargetError:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
    message = (
        f"gateway {name!r}: {method} {path} answered {response.status_code}: {str(detail)[:500]}"
    )
    if response.status_code == 412:
        return TargetConflict(message)
    if response.status_code == 401:
        return TargetError(f"gateway {name!r}: the admin token was refused (HTTP 401)")
    return TargetError(message)
