"""An in-process response cache that also answers paraphrases of a cached prompt.

Entries live in scopes (a string the caller builds from the route, the team, the model
parameters...): a prompt only ever matches entries of its own scope. With a threshold of 1.0 a
lookup is an exact match of the whitespace-normalized prompt. Below 1.0 the prompt is embedded
(`TextEncoder`) and compared by cosine similarity with every entry of its scope, one matrix-vector
product; the best matches at or above the threshold must then pass `same_question`, which
rejects prompts that read alike but ask something else.

Nothing here speaks HTTP: the proxy decides what to cache and builds the scope.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from controlplane.gateway.embedder import TextEncoder
from controlplane.gateway.same_question import normalize, same_question

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

# At 0.9 every paraphrase of the labelled set (tests/unit/gateway/cache_pairs.py) hits and no
# near-miss does; `benchmarks/cache_bench.py` shows the trade-off at other values.
RECOMMENDED_THRESHOLD = 0.9
CANDIDATES = 8  # matches above the threshold checked by `same_question`, best first
SAVE_INTERVAL = 30.0  # seconds between saves triggered by `store`
MEMO_SIZE = 256  # recent prompt embeddings kept: a miss's lookup and store embed the same prompt
PENDING_BATCH = 16  # entries without a vector embedded by one lookup (~4 ms each)
FORMAT = 1


@dataclass(frozen=True)
class Hit:
    answer: dict[str, Any]  # the cached OpenAI chat completion, a copy the caller may change
    similarity: float  # 1.0 for an exact match
    prompt: str  # the cached prompt that matched


@dataclass(eq=False)
class Entry:
    scope: str
    key: str  # the normalized prompt
    prompt: str
    answer: dict[str, Any]
    stored: float  # clock time
    expires: float
    vector: Vector | None = None
    row: int = -1  # position in its scope's index; -1 while it has no vector there


# --- The cache -------------------------------------------------------------------------------


class ScopeIndex:
    """The vectors of one scope's entries as rows of one matrix (grown by doubling, a removed
    row filled by the last one), so a lookup is one matrix-vector product."""

    def __init__(self, dimensions: int) -> None:
        # One row to start: scopes include earlier turns, so most hold a single entry.
        self.vectors = np.empty((1, dimensions), dtype=np.float32)
        self.times = np.empty((1, 2), dtype=np.float64)  # (stored, expires) per row
        self.entries: list[Entry] = []

    def add(self, entry: Entry) -> None:
        assert entry.vector is not None
        row = len(self.entries)
        if row == len(self.vectors):
            self.vectors = np.concatenate([self.vectors, np.empty_like(self.vectors)])
            self.times = np.concatenate([self.times, np.empty_like(self.times)])
        self.vectors[row] = entry.vector
        self.times[row] = (entry.stored, entry.expires)
        self.entries.append(entry)
        entry.row = row

    def remove(self, entry: Entry) -> None:
        last = self.entries.pop()
        if last is not entry:
            row, end = entry.row, len(self.entries)
            self.entries[row] = last
            self.vectors[row] = self.vectors[end]
            self.times[row] = self.times[end]
            last.row = row
        entry.row = -1

    def expired(self, now: float) -> list[Entry]:
        return [self.entries[i] for i in np.flatnonzero(self.times[: len(self.entries), 1] <= now)]

    def search(
        self, vector: Vector, threshold: float, now: float, max_age: float
    ) -> list[tuple[float, Entry]]:
        """Live entries at least THRESHOLD similar, best first (at most CANDIDATES)."""
        count = len(self.entries)
        scores = self.vectors[:count] @ vector
        stored, expires = self.times[:count, 0], self.times[:count, 1]
        scores[(expires <= now) | (stored <= now - max_age)] = -np.inf
        above = np.flatnonzero(scores >= threshold)
        best = above[np.argsort(-scores[above], kind="stable")][:CANDIDATES]
        return [(float(scores[i]), self.entries[i]) for i in best]


class SemanticCache:
    """Cached answers by scope and prompt, bounded, expiring, optionally kept in a file.

    Safe to call from several threads. With `embedder=None` only exact matches are served, and
    so are prompts longer than the embedder's window (the part past it would not count).
    `store` embeds nothing itself: a semantic lookup embeds its prompt (kept for the `store` of
    the answer after a miss) and the entries of its scope that have no vector yet, so a cache
    used for exact matches only never runs the model.
    """

    def __init__(
        self,
        embedder: TextEncoder | None,
        path: Path | None = None,
        clock: Callable[[], float] = time.time,
        max_entries: int = 10_000,
        save_interval: float = SAVE_INTERVAL,
    ) -> None:
        self.embedder = embedder
        self.path = path
        self.clock = clock
        self.max_entries = max_entries
        self.save_interval = save_interval
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()  # oldest first
        self._scopes: dict[str, ScopeIndex] = {}
        self._pending: dict[str, dict[str, Entry]] = {}  # per scope: entries without a vector
        self._memo: OrderedDict[str, Vector | None] = OrderedDict()
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self._dirty = False
        self._saved_at = clock()
        if path is not None:
            self._load(path)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, scope: str, prompt: str, threshold: float, ttl_seconds: float) -> Hit | None:
        """The cached answer for PROMPT in SCOPE: an exact match, else (threshold below 1.0)
        the most similar entry at least THRESHOLD similar that asks the same question. Entries
        older than TTL_SECONDS do not match either, so a TTL shortened in the config applies to
        what is already cached."""
        key = normalize(prompt)
        now = self.clock()
        with self._lock:
            entry = self._entries.get((scope, key))
            if entry is not None and entry.expires <= now:
                self._remove(entry)
            elif entry is not None and entry.stored > now - ttl_seconds:
                return self._hit(entry, 1.0)
            if threshold >= 1.0 or self.embedder is None:
                return None
            if scope not in self._scopes and scope not in self._pending:
                return None
        vector = self._embed(key)
        if vector is None:
            return None
        self._index_pending(scope)
        with self._lock:
            index = self._scopes.get(scope)
            if index is None:
                return None
            for stale in index.expired(now):
                self._remove(stale)
            for score, found in index.search(vector, threshold, now, ttl_seconds):
                if same_question(prompt, found.prompt):
                    return self._hit(found, score)
        return None

    def store(self, scope: str, prompt: str, answer: dict[str, Any], ttl_seconds: float) -> None:
        key = normalize(prompt)
        now = self.clock()
        with self._lock:
            vector = self._memo.get(key)  # embedded by the lookup that missed, if semantic
            entry = Entry(scope, key, prompt, copy.deepcopy(answer), now, now + ttl_seconds, vector)
            self._add(entry)
            while len(self._entries) > self.max_entries:
                self._remove(next(iter(self._entries.values())))
            self._dirty = True
            due = self.path is not None and now - self._saved_at >= self.save_interval
        if due:
            self.save()

    def close(self) -> None:
        if self._dirty:
            self.save()

    def save(self) -> None:
        """Write every unexpired entry to the file, atomically; a failure is logged."""
        if self.path is None:
            return
        with self._save_lock:  # one writer, so an older snapshot never replaces a newer one
            with self._lock:
                now = self.clock()
                entries = [e for e in self._entries.values() if e.expires > now]
                self._dirty = False
                self._saved_at = now
            try:
                _write(self.path, entries)
            except (OSError, ValueError, TypeError) as exc:
                log.warning("cannot save the semantic cache to %s: %s", self.path, exc)

    def _hit(self, entry: Entry, similarity: float) -> Hit:
        return Hit(copy.deepcopy(entry.answer), similarity, entry.prompt)

    def _embed(self, key: str) -> Vector | None:
        """KEY's vector; None when KEY is longer than the embedder's window."""
        assert self.embedder is not None
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        vector = self.embedder.encode([key])[0] if self.embedder.fits(key) else None
        with self._lock:
            self._memo[key] = vector
            if len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return vector

    def _index_pending(self, scope: str) -> None:
        """Embed (in one batch, at most PENDING_BATCH) entries of SCOPE stored without a vector:
        stored while the route matched exactly, or loaded from a file of another model."""
        assert self.embedder is not None
        with self._lock:
            pending = self._pending.get(scope, {})
            claimed = [pending.pop(k) for k in list(pending)[:PENDING_BATCH]]
            if not pending:
                self._pending.pop(scope, None)
        if not claimed:
            return
        fitting = [e for e in claimed if self.embedder.fits(e.key)]
        vectors = self.embedder.encode([e.key for e in fitting])
        with self._lock:
            for entry, vector in zip(fitting, vectors, strict=True):
                if self._entries.get((entry.scope, entry.key)) is entry:  # not dropped meanwhile
                    entry.vector = vector
                    self._index(entry)

    def _index(self, entry: Entry) -> None:
        assert self.embedder is not None
        index = self._scopes.get(entry.scope)
        if index is None:
            index = self._scopes[entry.scope] = ScopeIndex(self.embedder.dimensions)
        index.add(entry)

    def _add(self, entry: Entry) -> None:
        old = self._entries.get((entry.scope, entry.key))
        if old is not None:
            self._remove(old)
        self._entries[(entry.scope, entry.key)] = entry
        if self.embedder is None:
            return
        if entry.vector is not None:
            self._index(entry)
        else:
            self._pending.setdefault(entry.scope, {})[entry.key] = entry

    def _remove(self, entry: Entry) -> None:
        del self._entries[(entry.scope, entry.key)]
        pending = self._pending.get(entry.scope)
        if pending is not None and pending.get(entry.key) is entry:
            del pending[entry.key]
            if not pending:
                del self._pending[entry.scope]
        index = self._scopes.get(entry.scope)
        if index is not None and entry.row >= 0:
            index.remove(entry)
            if not index.entries:
                del self._scopes[entry.scope]

    def _load(self, path: Path) -> None:
        for leftover in path.parent.glob(f".{path.name}.*.tmp"):
            leftover.unlink(missing_ok=True)  # a crash mid-save left it
        if not path.exists():
            return
        try:
            entries = _read(path)
        except Exception as exc:  # any damage in the file means: start empty, never crash
            log.warning("ignoring the semantic cache file %s (%s); starting empty", path, exc)
            return
        now = self.clock()
        for entry in entries:
            if entry.expires <= now:
                continue
            if (
                self.embedder is not None
                and entry.vector is not None
                and len(entry.vector) != self.embedder.dimensions
            ):
                entry.vector = None  # another model's: embedded again when needed
            self._add(entry)
        while len(self._entries) > self.max_entries:
            self._remove(next(iter(self._entries.values())))


def _write(path: Path, entries: list[Entry]) -> None:
    """One .npz: the entries as JSON bytes, and their vectors as one float32 matrix."""
    vectors: list[Vector] = []
    items = []
    for e in entries:
        row = None
        if e.vector is not None:
            row = len(vectors)
            vectors.append(e.vector)
        items.append(
            {
                "scope": e.scope,
                "prompt": e.prompt,
                "answer": e.answer,
                "stored": e.stored,
                "expires": e.expires,
                "vector": row,
            }
        )
    meta = json.dumps({"format": FORMAT, "entries": items}).encode()
    matrix = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, delete=False, prefix=f".{path.name}.", suffix=".tmp"
    ) as tmp:
        np.savez(tmp, meta=np.frombuffer(meta, dtype=np.uint8), vectors=matrix)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)


def _read(path: Path) -> list[Entry]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(data["meta"].tobytes())
        vectors = np.asarray(data["vectors"], dtype=np.float32)
    if meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
    entries = []
    for item in meta["entries"]:
        if not isinstance(item["answer"], dict):
            raise TypeError("an answer is not a JSON object")
        row = item["vector"]
        prompt = str(item["prompt"])
        entries.append(
            Entry(
                scope=str(item["scope"]),
                key=normalize(prompt),
                prompt=prompt,
                answer=item["answer"],
                stored=float(item["stored"]),
                expires=float(item["expires"]),
                vector=None if row is None else vectors[int(row)].copy(),
            )
        )
    return entries
