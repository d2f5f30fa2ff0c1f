"""Structured JSON logs, with credentials redacted before any handler sees them.

Every record is one JSON object with the message and any `extra` fields (environment, commit,
change). Redaction replaces the values of registered secrets (tokens the process resolved) and
anything that looks like a credential (controlplane's secret detectors).
"""

from __future__ import annotations

import logging
import sys
import threading

from pythonjsonlogger.json import JsonFormatter

from controlplane.validate.secrets import secret_kind

_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Never print this value: every log line has it replaced."""
    if len(value) >= 6:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    for value in list(_known):
        text = text.replace(value, "[REDACTED]")
    if secret_kind(text) is not None:
        return "[REDACTED: the message looked like it held a credential]"
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key in ("environment", "commit", "change", "error") and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "apscheduler", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
