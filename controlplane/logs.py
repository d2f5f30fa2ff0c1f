"""Logging for every controlplane process, with credentials redacted before any handler sees them.

`serve` writes one JSON object per record, with the message and any `extra` fields (environment,
commit, change); the other commands write plain `controlplane: level: message` lines to stderr.
Either way, every record passes the redacting filter first: registered credential values
(everything `controlplane.credentials` resolved) and anything shaped like a credential are
removed from the message and from every string field.
"""

from __future__ import annotations

import logging
import os
import sys

from pythonjsonlogger.json import JsonFormatter

from controlplane.credentials import redact
from controlplane.errors import ControlPlaneError

# Records from these libraries are noise (every request, every job run, every retry that the
# caller reports itself when it finally fails).
QUIET_LOGGERS = {
    "uvicorn.access": logging.WARNING,
    "apscheduler": logging.WARNING,
    "httpx": logging.WARNING,
    "git": logging.WARNING,
    "urllib3": logging.ERROR,
}
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _RESERVED and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            # A traceback's text is rendered later by the formatter: render it now, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


LEVEL_VARIABLE = "CONTROLPLANE_LOG_LEVEL"


def log_failure(log: logging.Logger, what: str, exc: BaseException, **extra: str) -> None:
    """One line for a failure that a loop survives (a tick, a pass, a job): what failed and why.
    A failure controlplane does not name itself is a bug: its traceback goes to DEBUG."""
    known = isinstance(exc, ControlPlaneError)
    reason = str(exc).splitlines()[0] if str(exc) else ""
    log.error(
        "%s: %s%s%s",
        what,
        "" if known else f"{type(exc).__name__}: ",
        reason[:500],
        "" if known else f" (a bug; {LEVEL_VARIABLE}=DEBUG logs its traceback)",
        extra=extra,
    )
    if not known:
        log.debug("traceback of: %s", what, exc_info=exc, extra=extra)


def configure_logging(json_lines: bool = False, level: str = "INFO") -> None:
    """Send every record through the redacting filter to stderr, as JSON or as plain lines, at
    LEVEL unless CONTROLPLANE_LOG_LEVEL says otherwise."""
    level = os.environ.get(LEVEL_VARIABLE, level).upper()
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "asctime": "time"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("controlplane: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy, quiet in QUIET_LOGGERS.items():
        logging.getLogger(noisy).setLevel(quiet)
