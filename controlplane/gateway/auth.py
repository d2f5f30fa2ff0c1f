"""Who is calling: the consumer a presented API key belongs to.

Keys are known only by their SHA-256: git holds hashes or references, and the gateway keeps the
hashes of referenced keys, never the keys. A presented key is hashed and looked up, so no key is
compared, stored or logged in the clear.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controlplane.credentials import resolve_received_secret
from controlplane.errors import ControlPlaneError
from controlplane.spec import Consumer, Route

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"  # the one rate-limit count of requests without a key


@dataclass(frozen=True)
class Caller:
    """The consumer behind a request; `consumer is None` for an anonymous request."""

    consumer: Consumer | None
    key_name: str | None = None

    @property
    def name(self) -> str:
        return self.consumer.name if self.consumer is not None else ANONYMOUS

    @property
    def team(self) -> str | None:
        return self.consumer.spec.team if self.consumer is not None else None

    def may_call(self, route: Route) -> bool:
        """Anyone may call an anonymous route (with a key or without); a consumer, its own."""
        if route.spec.anonymous:
            return True
        if self.consumer is None:
            return False
        allowed = self.consumer.spec.routes
        return not allowed or route.name in allowed


class Denied(Exception):
    """The request may not go on: the HTTP status and OpenAI error type to answer with."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_index(consumers: Iterable[Consumer]) -> Mapping[str, tuple[Consumer, str]]:
    """Hash -> (consumer, key name), for every key whose hash is known or whose reference
    resolves; a reference that does not resolve is logged (without any value) and skipped."""
    index: dict[str, tuple[Consumer, str]] = {}
    for consumer in consumers:
        for key in consumer.spec.keys:
            digest = key.sha256
            if digest is None and key.secret is not None:
                try:
                    digest = key_hash(resolve_received_secret(key.secret))
                except ControlPlaneError as exc:
                    log.warning("Consumer/%s key %s is unusable: %s", consumer.name, key.name, exc)
                    continue
            if digest is not None:
                index[digest] = (consumer, key.name)
    return index


def identify(authorization: str | None, index: Mapping[str, tuple[Consumer, str]]) -> Caller:
    """The caller a request's `Authorization: Bearer KEY` names; Denied (401) for a key that
    names nobody. No header at all is an anonymous caller (allowed or not per route)."""
    if not authorization:
        return Caller(None)
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Denied(401, "invalid_request_error", "expected 'Authorization: Bearer <API key>'")
    found = index.get(key_hash(key))
    if found is None:
        raise Denied(401, "invalid_api_key", "the API key is not valid")
    return Caller(*found)


def authorize(caller: Caller, route: Route) -> None:
    if caller.may_call(route):
        return
    if caller.consumer is None:
        raise Denied(
            401,
            "invalid_api_key",
            f"route {route.name!r} needs an API key ('Authorization: Bearer <key>')",
        )
    raise Denied(
        403,
        "permission_denied",
        f"consumer {caller.name!r} may not call route {route.name!r}",
    )
