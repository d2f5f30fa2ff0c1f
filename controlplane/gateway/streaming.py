"""Output guardrails on a stream: a window held back across chunks.

A model streams a few characters per chunk, so an e-mail address arrives in pieces and no one
chunk matches. The guard keeps the last `hold` characters back and releases text only at a cut
that no match crosses, so every match shorter than `hold` is seen whole before any of it leaves.
With `sentences`, text is released a whole sentence at a time instead, for checks that judge
meaning (a classifier) rather than spans: each sentence is checked once, before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

HOLD_CHARACTERS = 96
# A sentence that never ends is released by the window after this many characters.
LONGEST_SENTENCE = 2000
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


class StreamGuard:
    def __init__(
        self, guard: Callable[[str], str], hold: int = HOLD_CHARACTERS, sentences: bool = False
    ) -> None:
        self._guard = guard
        self._hold = hold
        self._sentences = sentences
        self._pending = ""

    def feed(self, text: str) -> str:
        """Take a chunk's text; return what may be released now (already guarded)."""
        self._pending += text
        cut = self._safe_cut()
        if cut <= 0:
            return ""
        released, self._pending = self._pending[:cut], self._pending[cut:]
        return self._guard(released)

    def flush(self) -> str:
        """The end of the stream: the rest, guarded."""
        rest, self._pending = self._pending, ""
        return self._guard(rest) if rest else ""

    def _splits_nothing(self, cut: int, whole: str) -> bool:
        pending = self._pending
        if whole == pending:  # nothing to redact: no match can straddle the cut
            return True
        return self._guard(pending[:cut]) + self._guard(pending[cut:]) == whole

    def _safe_cut(self) -> int:
        pending = self._pending
        if self._sentences and len(pending) < LONGEST_SENTENCE:
            ends = [m.end() for m in _SENTENCE_END.finditer(pending)]
            if not ends:
                return 0
            whole = self._guard(pending)
            return next((cut for cut in reversed(ends) if self._splits_nothing(cut, whole)), 0)
        return self._window_cut()

    def _window_cut(self) -> int:
        """The latest cut, at least `hold` characters before the end, between words, such that
        guarding the two sides apart gives what guarding them together does."""
        pending = self._pending
        cut = len(pending) - self._hold
        whole = None
        while cut > 0:
            space = pending.rfind(" ", 0, cut + 1)
            if space <= 0:
                return 0
            cut = space
            whole = whole if whole is not None else self._guard(pending)
            if self._splits_nothing(cut, whole):
                return cut
            cut -= 1
        return 0
