"""The answers the gateway gave recently, by request id: what feedback on one is counted under.

Bounded in time and in size, so memory stays flat whatever the traffic: an answer can be rated
for `FEEDBACK_WINDOW` after it was given, and only the latest `FEEDBACK_ANSWERS` answers are
kept (the oldest go first). Entries are kept in the order they were given, and they all live
equally long, so expiry only ever looks at the front: remembering and looking up cost O(1).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FEEDBACK_WINDOW = 24 * 3600.0  # seconds an answer may be rated after it was given
FEEDBACK_ANSWERS = 100_000  # answers remembered at most (~30 MB)


@dataclass(frozen=True, slots=True)
class Answered:
    """Who got an answer (the consumer, None without a key) and what gave it: the labels its
    metrics were counted under."""

    route: str
    variant: str
    model: str
    consumer: str | None

    def labels(self) -> dict[str, str]:
        return {"route": self.route, "variant": self.variant, "model": self.model}


@dataclass(slots=True)
class Remembered:
    answered: Answered
    at: float
    rated: bool = False


class RecentAnswers:
    """Request id -> the answer given, for `ttl` seconds, at most `size` of them."""

    def __init__(
        self,
        ttl: float = FEEDBACK_WINDOW,
        size: int = FEEDBACK_ANSWERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, Remembered] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def remember(self, request_id: str, answered: Answered) -> None:
        self._expire()
        self._entries[request_id] = Remembered(answered, self._clock())
        self._entries.move_to_end(request_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, request_id: str) -> Remembered | None:
        """The answer given under this id, while it may still be rated."""
        self._expire()
        return self._entries.get(request_id)

    def _expire(self) -> None:
        oldest = self._clock() - self.ttl
        while self._entries:
            first = next(iter(self._entries.values()))
            if first.at > oldest:
                return
            self._entries.popitem(last=False)
