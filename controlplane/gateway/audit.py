"""The request log: one JSON line per data-plane request, for tracing and audit.

Each line says who asked (the consumer, never the key), what served it (route, variant, model),
what it cost (tokens, USD, latency, TTFT), how it ended (status, guardrails, cache, cascade) and,
at the configured level, what was said: `none` (metadata only), `redacted` (prompts and answers
with personal data replaced) or `full`. Files rotate at UTC midnight and are kept for a set number
of days. Lines are written by a background thread, so a slow disk never stalls a request.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from controlplane.gateway.guardrails import PII_ORDER, redact_pii

ALL_PII = frozenset(PII_ORDER)


class ContentLevel(StrEnum):
    NONE = "none"
    REDACTED = "redacted"
    FULL = "full"


@dataclass(frozen=True)
class AuditSettings:
    path: Path
    content: ContentLevel = ContentLevel.REDACTED
    retention_days: int = 30


class _Line(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return str(record.msg)


class AuditLog:
    def __init__(self, settings: AuditSettings) -> None:
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        self.content = settings.content
        handler = logging.handlers.TimedRotatingFileHandler(
            settings.path,
            when="midnight",
            utc=True,
            backupCount=settings.retention_days,
            encoding="utf-8",
        )
        handler.setFormatter(_Line())
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._listener.start()
        # A logger of our own, outside the root's handlers: these lines go to the file only.
        self._logger = logging.Logger(f"controlplane.audit.{id(self)}")
        self._logger.addHandler(logging.handlers.QueueHandler(self._queue))

    def text(self, value: str) -> str | None:
        """Content as this log's level keeps it."""
        if self.content is ContentLevel.NONE:
            return None
        if self.content is ContentLevel.REDACTED:
            return redact_pii(value, ALL_PII).text
        return value

    def write(self, record: dict[str, Any]) -> None:
        self._logger.info(json.dumps(record, separators=(",", ":"), default=str))

    def close(self) -> None:
        self._listener.stop()
