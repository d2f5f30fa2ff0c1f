"""What a channel is sent: one event, as a frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from controlplane.spec.notification import NotificationEvent


@dataclass(frozen=True)
class Event:
    """Something that happened in an environment, for people.

    `dedupe_key` names the occurrence: the same key sent to the same channel within its
    `minInterval` is sent once (e.g. drift of one commit with the same changes), or within
    `window` when that is longer (a budget threshold: once per budget period). `url` links to
    more (a pull request), when there is one."""

    kind: NotificationEvent
    environment: str
    title: str
    text: str
    dedupe_key: str
    at: datetime
    url: str = ""
    window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.kind is NotificationEvent.ALL:
            raise ValueError("an event is of one kind; `all` is only for choosing events")
        if not self.dedupe_key:
            raise ValueError("an event needs a dedupe key")
        if self.at.tzinfo is None:
            raise ValueError("an event's time must carry its time zone")
