"""The channel protocol: what the engine asks of a notification adapter."""

from __future__ import annotations

from typing import Protocol

from controlplane.notify.event import Event


class Channel(Protocol):
    name: str

    def send(self, event: Event) -> int:
        """Deliver EVENT; how many tries it took. NotificationError when it was not delivered
        (the message names the channel, never its credential)."""
        ...
