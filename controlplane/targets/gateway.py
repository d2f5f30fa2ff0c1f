"""Driver for the embedded gateway's admin API (targets.http: timeouts, retries, clear 4xx).

Writes are conditional (If-None-Match: * to create, If-Match to
replace or delete), and a retried write that finds its own result already there counts as done,
so applying is idempotent even when an answer is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, assert_never

import httpx
from pydantic import ValidationError

from controlplane.answers import Answer, misfit
from controlplane.errors import TargetConflict, TargetError
from controlplane.plan import LIVE_KIND_NAMES, Change, ChangeKind, document_of, owned_resource
from controlplane.spec import KIND_BY_NAME, DesiredState, LiveState, Managed, Resource
from controlplane.targets import Capabilities
from controlplane.targets.http import TargetHttp

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
    capabilities = Capabilities(kinds=LIVE_KIND_NAMES, conditional_writes=True)

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
        self._http = TargetHttp(
            f"gateway {name!r}",
            url,
            {"Authorization": f"Bearer {token}"},
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            sleep=sleep,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def wanted(self, desired: DesiredState, live: LiveState) -> Sequence[Managed] | None:
        return None  # the gateway holds our resources themselves

    def read(self) -> LiveState:
        response = self._http.request("GET", API)
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
                    self._http.request("PUT", path, json=document, headers=condition)
                except TargetConflict:
                    if not self._holds(change.kind, change.name, change.after):
                        raise
            case ChangeKind.DELETE:
                try:
                    self._http.request(
                        "DELETE", path, headers={"If-Match": f'"{change.live_version}"'}
                    )
                except TargetConflict:
                    if self._exists(path):
                        raise
            case _ as unreachable:
                assert_never(unreachable)

    def apply_all(self, changes: Sequence[Change]) -> None:
        raise NotImplementedError("the gateway applies one change at a time")

    def _holds(self, kind: str, name: str, document: dict[str, Any]) -> bool:
        """Whether the target already has exactly this document (our earlier try landed)."""
        response = self._http.request("GET", f"{API}/{kind}/{name}", allow=(404,))
        if response.status_code == 404:
            return False
        try:
            live = KIND_BY_NAME[kind].model_validate_json(response.content)
        except ValidationError as exc:
            raise self._unexpected(exc) from exc
        return document_of(live) == document

    def _exists(self, path: str) -> bool:
        return self._http.request("GET", path, allow=(404,)).status_code != 404
