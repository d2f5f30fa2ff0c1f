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
import itertools
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from controlplane.gateway.embedder import TextEncoder

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

# At 0.9 every paraphrase of the labelled set (tests/unit/gateway/cache_pairs.py) hits and no
# near-miss does; `benchmarks/cache_bench.py` shows the trade-off at other values.
RECOMMENDED_THRESHOLD = 0.9
BLOCK = 4  # the longest group of words `same_question` lets trade places with its neighbour
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


def normalize(prompt: str) -> str:
    return " ".join(prompt.split())


# --- The guard against similar prompts that ask different questions ---------------------------

TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+(?:[.,]\d+)*")
SENTENCE_BREAK = re.compile(r"[.!?:;\n]")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NEGATIONS = frozenset(
    _words(
        """not no never without none nothing nobody nowhere neither nor cannot unable dont
        doesnt didnt cant wont isnt arent wasnt werent shouldnt wouldnt couldnt havent hasnt"""
    )
)
STOPWORDS = frozenset(
    _words(
        """a an the is are was were be been being am do does did doing have has having had i me
        my mine myself you your yours we us our they them their he him his she her it its this
        that these those of in on at for with by about as and or but if so then there here what
        which who whom whose how why when where can could would should will shall may might must
        please tell give show explain some any all each every other such just also very really
        much many more most quite way ways get got make lets let s d ll m re ve"""
    )
)  # not "to", "from", "than", "vs": where they stand is what the prompt means
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        _words(
            """zero one two three four five six seven eight nine ten eleven twelve thirteen
            fourteen fifteen sixteen seventeen eighteen nineteen twenty"""
        )
    )
    if word != "one"  # more often a pronoun ("which one")
} | {
    "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
    "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1000000",
    "billion": "1000000000", "dozen": "12", "half": "0.5", "first": "1", "second": "2",
    "third": "3", "fourth": "4", "fifth": "5", "sixth": "6", "seventh": "7", "eighth": "8",
    "ninth": "9", "tenth": "10",
}  # fmt: skip
UNITS = {
    spelling: unit
    for unit, spellings in {
        "celsius": "celsius centigrade °c",
        "fahrenheit": "fahrenheit °f",
        "kelvin": "kelvin kelvins",
        "km": "km kms kilometer kilometers kilometre kilometres",
        "meter": "meter meters metre metres",
        "cm": "cm centimeter centimeters centimetre centimetres",
        "mm": "mm millimeter millimeters millimetre millimetres",
        "mile": "mile miles",
        "foot": "foot feet ft",
        "inch": "inch inches",
        "yard": "yard yards",
        "kg": "kg kgs kilo kilos kilogram kilograms",
        "gram": "gram grams",
        "pound": "lb lbs pound pounds £",
        "ounce": "oz ounce ounces",
        "ton": "ton tons tonne tonnes",
        "liter": "liter liters litre litres",
        "ml": "ml milliliter milliliters millilitre millilitres",
        "gallon": "gallon gallons",
        "cup": "cup cups",
        "teaspoon": "teaspoon teaspoons tsp",
        "tablespoon": "tablespoon tablespoons tbsp",
        "pint": "pint pints",
        "quart": "quart quarts",
        "second": "second seconds sec secs",
        "minute": "minute minutes min mins",
        "hour": "hour hours hr hrs",
        "day": "day days",
        "week": "week weeks",
        "month": "month months",
        "year": "year years",
        "dollar": "dollar dollars usd $",
        "euro": "euro euros eur €",
        "yen": "yen jpy ¥",
        "byte": "byte bytes",
        "kb": "kb kilobyte kilobytes",
        "mb": "mb megabyte megabytes",
        "gb": "gb gigabyte gigabytes",
        "tb": "tb terabyte terabytes",
        "bit": "bit bits",
        "mph": "mph",
        "kmh": "kmh kph",
    }.items()
    for spelling in _words(spellings)
}
DIRECTIONS = frozenset(_words("to from into onto than vs versus before after"))
PREFIXES = _words("dis un in im il ir non de")  # a word that negates the word it prefixes


def _opposites(pairs: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for pair in _words(pairs):
        first, second = pair.split(":")
        found.setdefault(first, set()).add(second)
        found.setdefault(second, set()).add(first)
    return {word: frozenset(others) for word, others in found.items()}


OPPOSITES = _opposites(
    """good:bad best:worst better:worse large:small larger:smaller largest:smallest
    big:small bigger:smaller biggest:smallest tall:short taller:shorter tallest:shortest
    high:low higher:lower highest:lowest long:short longer:shorter longest:shortest
    fast:slow faster:slower fastest:slowest hot:cold warm:cold cheap:expensive easy:hard
    easiest:hardest easy:difficult early:late earliest:latest old:new oldest:newest
    older:newer old:young start:stop begin:end open:close add:remove add:delete add:drop
    insert:delete create:delete push:pull upload:download import:export encrypt:decrypt
    encode:decode increase:decrease raise:lower gain:lose win:lose buy:sell lend:borrow
    send:receive input:output left:right up:down true:false yes:no pros:cons
    strengths:weaknesses positive:negative maximum:minimum horizontal:vertical
    horizontally:vertically male:female men:women husband:wife boy:girl north:south
    east:west above:below inside:outside upper:lower uppercase:lowercase last:first
    light:dark light:heavy wet:dry safe:dangerous love:hate accept:reject allow:deny
    allow:block include:exclude sunrise:sunset morning:evening summer:winter min:max"""
)
SYMBOL = re.compile(r"°[cf]\b|[$€¥£]")


@dataclass(frozen=True)
class Reading:
    """What `same_question` compares in one prompt."""

    words: tuple[str, ...]  # lowercased, clitics cut ("python's" -> "python"), in order
    numbers: Counter[str]
    negations: int
    units: Counter[str]
    entities: frozenset[str]  # lowercased proper nouns and acronyms
    content: tuple[str, ...]  # words minus stopwords, in order


def read(prompt: str) -> Reading:
    words: list[str] = []
    numbers: Counter[str] = Counter()
    negations = 0
    entities: set[str] = set()
    previous_end = 0
    for match in TOKEN.finditer(prompt):
        raw = match.group().replace("’", "'")
        # A capital opening a sentence says nothing; elsewhere it marks a name, and so does a
        # capital after the first letter (AWS, iPhone, macOS) anywhere.
        opening = not words or SENTENCE_BREAK.search(prompt, previous_end, match.start())
        previous_end = match.end()
        if raw[0].isdigit():
            number = re.sub(r",(?=\d{3}\b)", "", raw)  # 1,000 is 1000
            numbers[number] += 1
            words.append(number)
            continue
        lower = raw.lower()
        if lower.endswith("n't") or lower in NEGATIONS:
            negations += 1
        word = lower.split("'")[0]
        if word in NUMBER_WORDS:
            word = NUMBER_WORDS[word]
            numbers[word] += 1
        words.append(word)
        name = raw.split("'")[0]
        if word != "i" and (
            any(c.isupper() for c in name[1:]) or (name[0].isupper() and not opening)
        ):
            entities.add(word)
    units = Counter(UNITS[w] for w in words if w in UNITS)
    units.update(UNITS[s] for s in SYMBOL.findall(prompt.lower()))
    content = tuple(w for w in words if w not in STOPWORDS and w not in NEGATIONS)
    return Reading(tuple(words), numbers, negations, units, frozenset(entities), content)


def _order(words: tuple[str, ...], anchors: set[str]) -> list[str]:
    """The anchors in the order they first appear, units by their canonical name."""
    seen: list[str] = []
    for word in words:
        item = UNITS.get(word, word)
        if item in anchors and item not in seen:
            seen.append(item)
    return seen


def _opposite(x: Reading, y: Reading) -> bool:
    """Whether a word of one has its opposite in the other: good/bad, advantages/disadvantages
    (a negating prefix)."""
    only_x, only_y = set(x.content) - set(y.content), set(y.content) - set(x.content)
    if any(OPPOSITES.get(w, frozenset()) & only_y for w in only_x):
        return True
    bases = {w for w in only_x | only_y if len(w) > 3}  # not "to" / "into"
    return any(p + w in only_y or p + w in only_x for w in bases for p in PREFIXES)


def _crossed(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether words trade sides of a direction word both have: "from boston to new york" and
    "new york to boston" ("new" after "to" in one, before it in the other, "boston" the other
    way round). One-sided moves are not enough: "how to convert a string to an int" has an
    infinitive "to" before the words "convert a string into an int" has after its own."""
    for word in DIRECTIONS.intersection(a).intersection(b):
        at_a, at_b = a.index(word), b.index(word)
        after_a = {f for w, f in itertools.pairwise(a) if w == word}
        after_b = {f for w, f in itertools.pairwise(b) if w == word}
        if after_a & set(b[:at_b]) and after_b & set(a[:at_a]):
            return True
    return False


def _swapped(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether B has A's words in another order, other than neighbouring groups of words
    trading places ("git branch" / "branch in git", "green tea's health benefits" / "health
    benefits of green tea"): not across a direction word ("Celsius to Fahrenheit"), and not
    around a word that stays ("cat chases dog" / "dog chases cat")."""
    if a == b or Counter(a) != Counter(b):
        return False
    i = 0
    while i < len(a):
        if a[i] == b[i]:
            i += 1
            continue
        end = _block_swap(a, b, i)
        if end is None:
            return True
        i = end
    return False


def _block_swap(a: tuple[str, ...], b: tuple[str, ...], i: int) -> int | None:
    """The end of two neighbouring groups at I in A that B has the other way round."""
    for j in range(i + 1, min(i + BLOCK, len(a)) + 1):
        for k in range(j + 1, min(j + BLOCK, len(a)) + 1):
            if b[i:k] == a[j:k] + a[i:j] and not DIRECTIONS.intersection(a[i:k]):
                return k
    return None


def same_question(a: str, b: str) -> bool:
    """Whether two prompts that embed close together ask the same question.

    A sentence embedding measures topic and wording more than meaning: with all-MiniLM-L6-v2
    "How do I convert Celsius to Fahrenheit?" and "...Fahrenheit to Celsius?" score 0.995,
    "Is it safe to eat raw eggs?" and "Is it not safe...?" 0.993, "Give me 5 tips..." and
    "Give me 10 tips..." 0.966: higher than most paraphrases. A cache that trusts the score
    alone answers different questions with one answer (LiteLLM's semantic cache is known for
    it). A wrong answer costs far more than a miss, so this rejects a match, whatever its
    score, when the prompts differ in what usually changes the answer:

    - their numbers (as a multiset; "five" counts as 5, "1,000" as 1000),
    - the number of negations (not, no, never, without, -n't, ...), or a word in one and its
      opposite in the other (good/bad, start/stop, advantages/disadvantages),
    - their units (km vs miles, Celsius vs Fahrenheit),
    - a proper noun or acronym (capitalized mid-sentence, or mixed case) found in one only,
    - the order of the names, numbers and units both have ("Paris to London" vs "London to
      Paris", "15% of 80" vs "80% of 15"), and of words around a direction word (to, from,
      than...) both have ("from boston to new york" vs "new york to boston"),
    - the order of the same content words, beyond neighbouring groups trading places ("Python
      faster than Java" vs "Java faster than Python", but not "Python list" vs "list in
      Python").

    It only ever turns hits into misses: a paraphrase that trips it costs one upstream call.
    Everything else (boiling/freezing, Ubuntu/Windows typed in lower case) is left to the
    threshold.
    """
    if normalize(a) == normalize(b):
        return True
    x, y = read(a), read(b)
    if x.numbers != y.numbers or x.units != y.units:
        return False
    if x.negations != y.negations or _opposite(x, y):
        return False
    if any(e not in y.words for e in x.entities) or any(e not in x.words for e in y.entities):
        return False
    anchors = set(x.entities & y.entities) | set(x.numbers) | set(x.units)
    if _order(x.words, anchors) != _order(y.words, anchors):
        return False
    if _crossed(x.content, y.content):
        return False
    return not _swapped(x.content, y.content)


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
