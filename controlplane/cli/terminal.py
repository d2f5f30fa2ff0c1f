"""What the commands need of the terminal: whether to use colour, and a confirmation prompt."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from controlplane.errors import UsageError


def color(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ


def confirm(question: str) -> bool:
    """Ask on the terminal; only 'yes' is yes. UsageError without a terminal to ask on."""
    if not sys.stdin.isatty():
        raise UsageError("stdin is not a terminal: pass --auto-approve to apply without asking")
    return input(f"{question} Only 'yes' is accepted: ").strip() == "yes"
