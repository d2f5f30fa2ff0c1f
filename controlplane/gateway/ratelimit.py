"""Per-key request and token limits over fixed one-minute windows.

Windows are aligned to the clock's minutes, so `Retry-After` is the time to the next minute.
The clock is injected so tests control time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.spec.route import RateLimits

WINDOW_SECONDS = 60.0


@dataclass
class _Window:
    start: float
    requests: int = 0
    tokens: int = 0


@dataclass(frozen=True)
class Rejection:
    limit: str  # "requests" or "tokens"
    retry_after: int


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], _Window] = {}

    def _window(self, route: str, key: str) -> _Window:
        now = self._clock()
        start = now - now % WINDOW_SECONDS
        window = self._windows.get((route, key))
        if window is None or window.start != start:
            window = _Window(start)
            self._windows[(route, key)] = window
            if len(self._windows) > 100_000:  # drop stale windows of idle keys
                self._windows = {k: w for k, w in self._windows.items() if w.start == start}
        return window

    def admit(self, route: str, key: str, limits: RateLimits) -> Rejection | None:
        """Count one request, or say which limit it is over and when to retry."""
        window = self._window(route, key)
        retry_after = max(1, math.ceil(window.start + WINDOW_SECONDS - self._clock()))
        if limits.requests_per_minute is not None and window.requests >= limits.requests_per_minute:
            return Rejection("requests", retry_after)
        if limits.tokens_per_minute is not None and window.tokens >= limits.tokens_per_minute:
            return Rejection("tokens", retry_after)
        window.requests += 1
        return None

    def add_tokens(self, route: str, key: str, tokens: int) -> None:
        self._window(route, key).tokens += tokens
