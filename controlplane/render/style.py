"""Terminal colour for the text renderers (ANSI codes), used only when asked for."""

from __future__ import annotations

RED = "\033[31m"
GREEN = "\033[32m"
YELLOW = "\033[33m"
BOLD = "\033[1m"
RESET = "\033[0m"


def paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color else text
