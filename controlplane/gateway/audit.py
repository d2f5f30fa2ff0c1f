"""The request log: one JSON line per data-plane request, for tracing and audit.

Each line says who asked (the consumer, never the key), what served it (route, variant, model),
what it cost (tokens, USD, latency, TTFT), how it ended (status, guardrails, cache, cascade) and,
at the configured level, what was said: `none` (metadata only), `redacted` (prompts and answers
with personal data replaced) or `full`. Files rotate at UTC midnight and are kept for a set number
of days (the standard library's TimedRotatingFileHandler). A request only queues its record: a
writer thread encodes and writes what has queued up in one write, so neither a slow disk nor the
encoding is on the request's path.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from controlplane.gateway.guardrails import PII_ORDER, redact_pii

ALL_PII = frozenset(PII_ORDER)
BATCH = 512  # records per write at most


class ContentLevel(StrEnum):
    NONE = "none"
    REDACTED = "redacted"
    FULL = "full"


@dataclass(frozen=True)
class AuditSettings:
    path: Path
    content: ContentLevel = ContentLevel.REDACTED
    retention_days: int = 30


Record = dict[str, Any]


class AuditLog:
    def __init__(self, settings: AuditSettings) -> None:
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        self.content = settings.content
        self._handler = logging.handlers.TimedRotatingFileHandler(
            settings.path,
            when="midnight",
            utc=True,
            backupCount=settings.retention_days,
            encoding="utf-8",
        )
        self._queue: queue.SimpleQueue[Record | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_batches, name="audit", daemon=True)
        self._writer.start()

    def text(self, value: str) -> str | None:
        """Content as this log's level keeps it."""
        if self.content is ContentLevel.NONE:
            return None
        if self.content is ContentLevel.REDACTED:
            return redact_pii(value, ALL_PII).text
        return value

    def write(self, record: Record, content: Callable[[], tuple[str, str]] | None = None) -> None:
        """Queue one line; `content` gives (prompt, answer), asked only when they are logged."""
        if content is not None and self.content is not ContentLevel.NONE:
            prompt, answer = content()
            record["prompt"], record["answer"] = self.text(prompt), self.text(answer)
        self._queue.put(record)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        self._handler.close()

    def _write_batches(self) -> None:
        while True:
            records = [self._queue.get()]
            while len(records) < BATCH and not self._queue.empty():
                records.append(self._queue.get())
            lines = [json.dumps(r, separators=(",", ":"), default=str) for r in records if r]
            if lines:  # one write and one rotation check for the batch
                self._handler.emit(logging.makeLogRecord({"msg": "\n".join(lines)}))
            if None in records:
                return
