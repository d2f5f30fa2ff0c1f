"""Webhook replay protection: a delivery id (X-GitHub-Delivery, X-Gitea-Delivery) seen within the
window is not acted on again. Bounded in memory; a replay of an old signed body only asks for a
reconcile, which is idempotent, so a restart forgetting the window costs nothing."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

DELIVERY_HEADERS = ("x-github-delivery", "x-gitea-delivery", "x-gogs-delivery")
MAX_REMEMBERED = 10_000


def delivery_id(headers: Mapping[str, str]) -> str | None:
    for name in DELIVERY_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return None


class RecentDeliveries:
    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def replayed(self, delivery: str) -> bool:
        """Whether DELIVERY was received within the window; it is remembered either way."""
        now = self._clock()
        with self._lock:
            while self._seen and (
                len(self._seen) >= MAX_REMEMBERED
                or next(iter(self._seen.values())) < now - self.window
            ):
                self._seen.popitem(last=False)
            seen = self._seen.pop(delivery, None)
            self._seen[delivery] = now
            return seen is not None and seen >= now - self.window
