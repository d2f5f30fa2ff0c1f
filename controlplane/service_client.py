"""A client of a running `controlplane serve` (httpx), for the commands that read its API.
Every failure (unreachable, refused, an answer that is not the API's) is ServiceUnavailable."""

from __future__ import annotations

from typing import Any

import httpx

from controlplane.errors import ServiceUnavailable


class ServiceClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def get(self, path: str) -> Any:
        """The JSON body of GET /api/v1{path}."""
        try:
            response = httpx.get(
                f"{self.url}/api/v1{path}",
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"cannot reach {self.url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ServiceUnavailable(
                f"{self.url} answered {response.status_code}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnavailable(f"{self.url} did not answer with JSON") from exc

    def environments(self) -> list[dict[str, Any]]:
        body = self.get("/environments")
        found = body.get("environments") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise ServiceUnavailable(f"{self.url}/api/v1/environments: not a controlplane API")
        return [e for e in found if isinstance(e, dict)]
