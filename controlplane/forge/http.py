"""HTTP for forge clients (httpx): authentication, rate limits, retries, pagination, errors.

Rate limits: a 429, or a 403 with no requests left, waits for `Retry-After` or until
`X-RateLimit-Reset` / `RateLimit-Reset` (epoch seconds), when that is within `max_wait`; a longer
wait is an error that says until when. 502/503/504 and connection errors are retried with
backoff. Pagination follows the `Link: rel="next"` header that all three forges send.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from controlplane.answers import misfit
from controlplane.errors import ForgeError

MAX_PAGES = 100
T = TypeVar("T")
RETRIABLE = {502, 503, 504}


class ForgeHttp:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        forge: str,
        timeout: float = 15.0,
        max_wait: float = 60.0,
        tries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"User-Agent": "controlplane", **headers},
            timeout=timeout,
            transport=transport,
        )
        self.forge = forge
        self.max_wait = max_wait
        self.tries = tries
        self._sleep = sleep

    def close(self) -> None:
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        for try_number in range(1, self.tries + 1):
            try:
                response = self._client.request(method, path, json=json, params=params)
            except httpx.HTTPError as exc:
                if try_number == self.tries:
                    raise ForgeError(
                        f"{self.forge}: {method} {path}: {type(exc).__name__}: {exc}"
                    ) from exc
                self._sleep(2**try_number / 4)
                continue
            wait = self._rate_limited(response)
            if wait is not None and try_number < self.tries:
                self._sleep(wait)
                continue
            if response.status_code in RETRIABLE and try_number < self.tries:
                self._sleep(2**try_number / 4)
                continue
            if response.is_error:
                raise ForgeError(f"{self.forge}: {method} {path}: {_explain(response)}")
            return response
        raise AssertionError("unreachable")  # the last try returns or raises

    def _rate_limited(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying, None when the response is not a rate limit."""
        headers = response.headers
        exhausted = headers.get("X-RateLimit-Remaining", headers.get("RateLimit-Remaining"))
        if response.status_code != 429 and not (
            response.status_code == 403 and (exhausted == "0" or "Retry-After" in headers)
        ):
            return None
        if "Retry-After" in headers:
            try:
                wait = float(headers["Retry-After"])
            except ValueError:
                wait = self.max_wait + 1
        else:
            reset = headers.get("X-RateLimit-Reset", headers.get("RateLimit-Reset"))
            wait = float(reset) - time.time() if reset and reset.isdigit() else 1.0
        if wait > self.max_wait:
            raise ForgeError(
                f"{self.forge}: rate limited for {wait:.0f} s more (longer than {self.max_wait:g}"
                " s); try again later"
            )
        return max(wait, 0.0)

    def parse(self, response: httpx.Response, shape: type[T]) -> T:
        """The answer as SHAPE; a ForgeError saying what did not fit when it is not one."""
        return self._parse(response, TypeAdapter(shape))

    def _parse(self, response: httpx.Response, adapter: TypeAdapter[T]) -> T:
        try:
            return adapter.validate_json(response.content)
        except ValidationError as exc:
            raise ForgeError(
                f"{self.forge}: {response.request.method} {response.request.url.path}: an answer "
                f"that is not what the API documents ({misfit(exc)})"
            ) from exc

    def pages(self, path: str, shape: type[T], params: dict[str, Any] | None = None) -> Iterator[T]:
        """The items of every page of a list endpoint, each as SHAPE."""
        adapter = TypeAdapter(list[shape])  # type: ignore[valid-type]
        response = self.request("GET", path, params=params)
        for _ in range(MAX_PAGES):
            yield from self._parse(response, adapter)
            following = response.links.get("next", {}).get("url")
            if not following:
                return
            if httpx.URL(following).host != self._client.base_url.host:
                # the token goes with every request: never follow a link off the forge
                raise ForgeError(f"{self.forge}: GET {path}: next page is on another host")
            response = self.request("GET", following)
        raise ForgeError(f"{self.forge}: GET {path}: more than {MAX_PAGES} pages")


def _explain(response: httpx.Response) -> str:
    detail = response.text[:300]
    try:
        data = response.json()
        if isinstance(data, dict):
            detail = str(data.get("message") or data.get("error") or data)[:300]
    except ValueError:
        pass
    return f"HTTP {response.status_code}: {detail}"
