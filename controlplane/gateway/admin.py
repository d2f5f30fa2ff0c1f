"""The admin API: live resources with versions, and conditional writes (ETag / If-Match).

    GET    /admin/v1/resources                 all resources; ETag is the config version
    GET    /admin/v1/resources/{kind}/{name}   one resource; ETag is its version
    PUT    /admin/v1/resources/{kind}/{name}   create or replace (If-Match, or If-None-Match: *)
    DELETE /admin/v1/resources/{kind}/{name}   delete (If-Match)

Every call needs `Authorization: Bearer <token>`. A write that would leave a route pointing at a
model or guardrail the gateway does not have is refused with 409, so the data plane never serves
a half-applied config.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from controlplane.gateway.embedder import model_missing
from controlplane.gateway.snapshot import LIVE_KIND_NAMES, Snapshot
from controlplane.gateway.state import GatewayState, snapshot_to_json
from controlplane.spec import KIND_BY_NAME


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def require_token(
    state: Annotated[GatewayState, Depends(gateway_state)],
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    presented = (authorization or "").removeprefix("Bearer ").strip()
    if not presented or not hmac.compare_digest(presented.encode(), state.admin_token.encode()):
        raise HTTPException(401, "a valid admin token is required", {"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/admin/v1", dependencies=[Depends(require_token)])
State = Annotated[GatewayState, Depends(gateway_state)]


def _etag(version: int) -> str:
    return f'"{version}"'


def _check_kind(kind: str) -> None:
    if kind not in LIVE_KIND_NAMES:
        raise HTTPException(
            404, f"unknown kind {kind!r}; expected one of {sorted(LIVE_KIND_NAMES)}"
        )


def _check_precondition(
    snapshot: Snapshot, kind: str, name: str, if_match: str | None, if_none_match: str | None
) -> None:
    """If-None-Match: * means create only; If-Match: "<version>" means replace that version."""
    current = snapshot.versions.get((kind, name))
    if if_none_match == "*" and current is not None:
        raise HTTPException(412, f"{kind}/{name} already exists (version {current})")
    if if_match is None:
        return
    wanted = if_match.strip('"')
    if current is None or wanted not in ("*", str(current)):
        raise HTTPException(412, f"{kind}/{name} is at version {current}, not {wanted}")


@router.get("/resources")
async def list_resources(state: State) -> JSONResponse:
    snapshot = state.snapshot
    return JSONResponse(snapshot_to_json(snapshot), headers={"ETag": _etag(snapshot.version)})


@router.get("/resources/{kind}/{name}")
async def get_resource(kind: str, name: str, state: State) -> JSONResponse:
    _check_kind(kind)
    snapshot = state.snapshot
    resource = snapshot.get(kind, name)
    if resource is None:
        raise HTTPException(404, f"{kind}/{name} not found")
    body = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    return JSONResponse(body, headers={"ETag": _etag(snapshot.versions[(kind, name)])})


@router.put("/resources/{kind}/{name}")
async def put_resource(
    kind: str,
    name: str,
    document: dict[str, Any],
    state: State,
    if_match: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    _check_kind(kind)
    if document.get("kind") != kind or (document.get("metadata") or {}).get("name") != name:
        raise HTTPException(400, f"the body must be a {kind} named {name!r}, as in the URL")
    try:
        resource = KIND_BY_NAME[kind].model_validate(document)
    except ValidationError as exc:
        raise HTTPException(
            422, exc.errors(include_url=False, include_context=False, include_input=False)
        ) from exc
    async with state.write_lock:
        snapshot = state.snapshot
        _check_precondition(snapshot, kind, name, if_match, if_none_match)
        created = snapshot.get(kind, name) is None
        updated = snapshot.with_resource(resource)
        broken = updated.broken_references()
        if broken:
            raise HTTPException(409, broken)
        missing = model_missing() if resource.ref in updated.needing_the_model() else None
        if missing is not None:
            raise HTTPException(409, [f"{resource.ref} cannot be served here: {missing}"])
        state.publish(updated)
    version = updated.versions[(kind, name)]
    return JSONResponse(
        {"kind": kind, "name": name, "version": version},
        status_code=201 if created else 200,
        headers={"ETag": _etag(version)},
    )


@router.delete("/resources/{kind}/{name}", status_code=204)
async def delete_resource(
    kind: str,
    name: str,
    state: State,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    _check_kind(kind)
    async with state.write_lock:
        snapshot = state.snapshot
        if snapshot.get(kind, name) is None:
            raise HTTPException(404, f"{kind}/{name} not found")
        _check_precondition(snapshot, kind, name, if_match, None)
        updated = snapshot.without(kind, name)
        broken = updated.broken_references()
        if broken:
            raise HTTPException(409, broken)
        state.publish(updated)
    return Response(status_code=204)
