"""HTTP for target drivers: timeouts on every call; retries with exponential backoff and jitter
(tenacity) on connection errors and 5xx; a clear TargetError on 4xx, which no retry mends."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from controlplane.errors import TargetConflict, TargetError, TargetUnavailable


class _Transient(Exception):
    """A failure worth another try: the connection, or a 5xx."""


class TargetHttp:
    def __init__(
        self,
        label: str,
        url: str,
        headers: dict[str, str],
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.label = label  # e.g. "gateway 'gw'", the start of every message
        self._retries = retries
        self._retrying = Retrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential_jitter(multiplier=backoff, max=30),
            retry=retry_if_exception_type(_Transient),
            sleep=sleep,
        )
        self._client = httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def close(self) -> None:
        self._client.close()

    def request(
        self, method: str, path: str, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """The answer, when it is a success or a status in `allow`."""
        try:
            return self._retrying(self._once, method, path, allow, kwargs)
        except RetryError as exc:
            failure = exc.last_attempt.exception()
            raise TargetUnavailable(
                f"{self.label}: {failure} (after {self._retries} retries)"
            ) from None

    def _once(
        self, method: str, path: str, allow: tuple[int, ...], kwargs: dict[str, Any]
    ) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__} talking to {self._client.base_url}") from exc
        if response.status_code < 400 or response.status_code in allow:
            return response
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code} from {method} {path}")
        raise self._client_error(method, path, response)

    def _client_error(self, method: str, path: str, response: httpx.Response) -> TargetError:
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = (
            body.get("detail", body.get("error", response.text))
            if isinstance(body, dict)
            else response.text
        )
        message = (
            f"{self.label}: {method} {path} answered {response.status_code}: {str(detail)[:500]}"
        )
        if response.status_code == 412:
            return TargetConflict(message)
        if response.status_code == 401:
            return TargetError(f"{self.label}: the credential was refused (HTTP 401)")
        return TargetError(message)
