"""HTTP for notification channels (httpx), with bounded retries as the forge clients do them.

One POST per delivery, with a timeout. Connection errors, timeouts, 5xx and 429 are retried
(`tries` in all) with backoff; a 429's `Retry-After` is waited for when it is within `max_wait`.
Any other answer outside 2xx is final. Every failure leaves as NotificationError that names the
channel and the reason, never the URL (a Slack URL is a credential) nor an httpx exception.

httpx logs each request's URL (at INFO, on the `httpx` logger). Other adapters send credentials
in headers, which it never logs; a Slack URL is the credential itself, so that logger's records
are redacted at the source, whatever logging the process has set up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from controlplane.credentials import redact
from controlplane.errors import NotificationError
from controlplane.logs import RedactingFilter

DETAIL_LIMIT = 200  # characters of a receiver's answer kept in the error


def _redact_httpx_records() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class NotifyHttp:
    def __init__(
        self,
        label: str,
        timeout: float = 5.0,
        tries: int = 3,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if tries < 1:
            raise ValueError("a delivery takes at least one try")
        _redact_httpx_records()
        self.label = label  # e.g. "slack channel 'ops'", the start of every message
        self.timeout = timeout
        self.tries = tries
        self.max_wait = max_wait
        self._sleep = sleep
        self._transport = transport

    def post(self, url: str, body: bytes, headers: Callable[[], dict[str, str]]) -> int:
        """POST BODY to URL until it is accepted (2xx); how many tries it took. HEADERS is
        called for each try (a signature carries the time of its try)."""
        reason = ""
        with httpx.Client(
            timeout=self.timeout,
            transport=self._transport,
            headers={"User-Agent": "controlplane", "Content-Type": "application/json"},
        ) as client:
            for try_number in range(1, self.tries + 1):
                wait = 2**try_number / 4
                try:
                    response = client.post(url, content=body, headers=headers())
                except (httpx.HTTPError, httpx.InvalidURL) as exc:  # refused, timed out, bad URL
                    reason = f"{type(exc).__name__} talking to the receiver"
                else:
                    if response.is_success:
                        return try_number
                    reason = f"HTTP {response.status_code}: {_detail(response)}"
                    if not _retriable(response.status_code):
                        break
                    retry_after = _retry_after(response)
                    if retry_after is not None:
                        if retry_after > self.max_wait:
                            reason += f" (retry after {retry_after:.0f} s, longer than we wait)"
                            break
                        wait = retry_after
                if try_number < self.tries:
                    self._sleep(wait)
        raise NotificationError(
            redact(f"{self.label}: {reason} (after {try_number} of {self.tries} tries)"),
            tries=try_number,
        )


def _retriable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if response.status_code != 429 or value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    text = " ".join(response.text.split())  # one line, whatever the receiver sent
    return (text[:DETAIL_LIMIT] + "…" if len(text) > DETAIL_LIMIT else text) or "(no body)"
