"""Second-pass classifiers for prompt injection and toxicity: nearest neighbours in embedding space.

The regexes in `guardrails` catch the stock phrasings ("ignore all previous instructions") and
miss paraphrases ("set aside the guidelines your operators gave you"). Here a text is embedded
with all-MiniLM-L6-v2 and compared with two shipped sets of examples (`data/`): labelled
attacks (or toxic sentences) and ordinary texts that share their vocabulary (prompts about git
ignore, system prompts, rules; answers about wars, illness, criticism).

For each piece of the text (the whole when it is short, and each sentence, since an injection
hides inside a longer prompt or a quoted document; see `pieces`):

    margin = mean of the 5 highest cosine similarities to the labelled set
             - BENIGN_WEIGHT × the highest cosine similarity to the benign set

The mean of several neighbours rewards text close to a family of attacks rather than to one
line that happens to share words with it; subtracting the benign similarity discounts
vocabulary that ordinary texts share. The text's margin is that of its most suspicious piece,
and a logistic curve turns it into a score in [0, 1] (see `Calibration`), set so that a
guardrail's default threshold of 0.8 keeps false positives on ordinary text at or below 2%.
`injection_score` and `toxicity_score` return the larger of that and the regex score.

Cost: about one forward pass over the text's words, twice for a short one: ~20 ms for a
50-word prompt and ~0.5 s for 5,000 characters on two cores. Text longer than HEAD_CHARS +
TAIL_CHARS is cut to its start and end first. The calls block: an async caller runs them in a
thread (numpy releases the GIL in the matrix products).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from controlplane.gateway.embedder import Embedder, Matrix, load_embedder

DATA = Path(__file__).resolve().parent / "data"

# What is read of a long text: its start, where prompts put the instructions, and its end, where
# an appended injection sits. Bounds the work at about 1,000 words.
HEAD_CHARS = 4000
TAIL_CHARS = 1000
WINDOW_WORDS = 40
STRIDE_WORDS = 20  # windows overlap by half, so any 20 words in a row are whole in one
MIN_SENTENCE_WORDS = 4  # shorter fragments ("Step two:", "Thanks!") say too little alone
NEIGHBOURS = 5
BENIGN_WEIGHT = 0.5

SENTENCES = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
# An injected instruction is often introduced by a colon ("Note to the AI: ..."), so prompts are
# also cut there; answers are not, as clauses like "you don't have to face it alone" out of
# context read as threats more often than they catch one.
CLAUSES = re.compile(r"(?<=[.!?;:])\s+|\s*\n\s*")


@dataclass(frozen=True)
class Calibration:
    """Margin to score: score = 1 / (1 + exp(-(margin - at_0_8) / width) / 4).

    That is a logistic curve placed so that score = 0.8 exactly at margin `at_0_8`, the margin
    above which at most 2% of ordinary texts fall; 0.5 is `width × ln 4` below it and 0.95
    `width × ln(19/4)` above it.
    """

    at_0_8: float
    width: float

    def score(self, margin: float) -> float:
        exponent = -(margin - self.at_0_8) / self.width
        # exp() overflows a float past ~709; the score is 0 long before that
        return 0.0 if exponent > 700 else 1.0 / (1.0 + math.exp(exponent) / 4.0)


# at_0_8 was chosen on the evaluation sets in tests/unit/gateway/data/ (nothing else was tuned
# on them): just above the margins of all but one of 171 ordinary prompts and all 108 ordinary
# answers, with room for the next ones below. `width` puts 0.5 near the 95th percentile of
# ordinary texts. Scores 0.5 / 0.8 / 0.95 are margins 0.228 / 0.29 / 0.36 for injection and
# 0.097 / 0.18 / 0.273 for toxicity; held-out attacks have a median margin of 0.37, toxic
# sentences 0.31.
INJECTION_CALIBRATION = Calibration(at_0_8=0.29, width=0.045)
TOXICITY_CALIBRATION = Calibration(at_0_8=0.18, width=0.06)


def read_examples(name: str) -> list[str]:
    """The non-blank lines of data/NAME that are not # comments."""
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def head_and_tail(text: str) -> str:
    """TEXT, or when it is long its first HEAD_CHARS and last TAIL_CHARS characters, less the
    words cut in two there (a word cut in two reads as another word)."""
    if len(text) <= HEAD_CHARS + TAIL_CHARS:
        return text
    head, tail = text[:HEAD_CHARS], text[-TAIL_CHARS:]
    if not text[HEAD_CHARS].isspace():
        head = re.sub(r"\S+$", "", head) or head
    if not text[-TAIL_CHARS - 1].isspace():
        tail = re.sub(r"^\S+", "", tail) or tail
    return f"{head}\n{tail}"


def pieces(text: str, boundaries: re.Pattern[str] = SENTENCES) -> list[str]:
    """What is embedded of TEXT, each with its spaces collapsed: the whole text when it is short,
    and its sentences (split at BOUNDARIES) when it has several or is long. A fragment under
    MIN_SENTENCE_WORDS joins its neighbour; a sentence over WINDOW_WORDS becomes
    half-overlapping windows of that many words.

    Every word is in at least one piece and most are in one or two, so the work grows with the
    text's length rather than with its length times the number of windows.
    """
    text = head_and_tail(text)
    words = text.split()
    if not words:
        return []
    found = [words] if len(words) <= WINDOW_WORDS else []
    sentences: list[list[str]] = []
    pending: list[str] = []
    for part in boundaries.split(text):
        pending += part.split()
        if len(pending) >= MIN_SENTENCE_WORDS:
            sentences.append(pending)
            pending = []
    if pending:  # a short tail belongs to the sentence before it
        if sentences:
            sentences[-1] = sentences[-1] + pending
        else:
            sentences.append(pending)
    if len(sentences) > 1 or len(words) > WINDOW_WORDS:
        for sentence in sentences:
            last = max(len(sentence) - WINDOW_WORDS, 0)
            starts = [*range(0, last, STRIDE_WORDS), last]
            found.extend(sentence[start : start + WINDOW_WORDS] for start in starts)
    return list(dict.fromkeys(" ".join(piece) for piece in found))


def encode(embedder: Embedder, texts: list[str]) -> Matrix:
    """EMBEDDER.encode, called on groups of similar length: it pads every text of a call to the
    longest, so one 200-word piece among twenty short ones would triple the work."""
    result = np.zeros((len(texts), embedder.dimensions), dtype=np.float32)
    groups: list[list[int]] = []
    for i in sorted(range(len(texts)), key=lambda i: len(texts[i])):
        if groups and len(texts[i]) <= 1.5 * len(texts[groups[-1][0]]) + 20:
            groups[-1].append(i)
        else:
            groups.append([i])
    for group in groups:
        result[group] = embedder.encode([texts[i] for i in group])
    return result


class Detector:
    """Scores texts by their similarity to labelled examples, contrasted with benign ones."""

    def __init__(
        self,
        embedder: Embedder,
        labelled: Sequence[str],
        benign: Sequence[str],
        calibration: Calibration,
        boundaries: re.Pattern[str] = SENTENCES,
    ) -> None:
        self.embedder = embedder
        self.boundaries = boundaries
        self.labelled = encode(embedder, list(labelled))
        self.benign = encode(embedder, list(benign))
        self.calibration = calibration

    def margins(self, vectors: Matrix) -> Matrix:
        """One margin per row of VECTORS (unit-length embeddings)."""
        to_labelled = vectors @ self.labelled.T
        k = min(NEIGHBOURS, to_labelled.shape[1])
        nearest = np.partition(to_labelled, -k, axis=1)[:, -k:].mean(axis=1)
        result: Matrix = nearest - np.float32(BENIGN_WEIGHT) * (vectors @ self.benign.T).max(axis=1)
        return result

    def margin(self, text: str) -> float:
        """The margin of TEXT's most suspicious piece; -1 (the lowest cosine) for empty text."""
        found = pieces(text, self.boundaries)
        if not found:
            return -1.0
        return float(self.margins(encode(self.embedder, found)).max())

    def score(self, text: str) -> float:
        return self._score(text)

    # Prompts repeat (system prompts, earlier turns, retries): a text is scored once. Bounded,
    # and per detector (an lru_cache on a method would also hold the instance; this one is it).
    @functools.lru_cache(maxsize=4096)  # noqa: B019
    def _score(self, text: str) -> float:
        return self.calibration.score(self.margin(text))


# Many requests may ask for a detector at once while the first one is still loading: one
# loads it, the others wait for that one, rather than each loading its own.
_LOADING = threading.Lock()


def injection_detector() -> Detector:
    """Loaded on first use, once per process: loading the model and encoding the examples takes
    a few seconds."""
    with _LOADING:
        return _injection_detector()


def toxicity_detector() -> Detector:
    with _LOADING:
        return _toxicity_detector()


@cache
def _injection_detector() -> Detector:
    return Detector(
        load_embedder(),
        read_examples("injection-attacks.txt"),
        read_examples("benign-prompt-anchors.txt"),
        INJECTION_CALIBRATION,
        CLAUSES,
    )


@cache
def _toxicity_detector() -> Detector:
    return Detector(
        load_embedder(),
        read_examples("toxic.txt"),
        read_examples("benign-output-anchors.txt"),
        TOXICITY_CALIBRATION,
    )


def injection_score(text: str) -> float:
    """How likely TEXT is a prompt-injection attempt, in [0, 1]: the larger of the regex and the
    embedding score. Compare it with a PromptInjection guardrail's threshold (default 0.8)."""
    regex = _regex_score(text, toxic=False)
    if not text.strip():
        return regex
    return max(regex, injection_detector().score(text))


def toxicity_score(text: str) -> float:
    """How likely TEXT is toxic, abusive or threatening, in [0, 1]: the larger of the regex and
    the embedding score. Compare it with a Toxicity guardrail's threshold (default 0.8)."""
    regex = _regex_score(text, toxic=True)
    if not text.strip():
        return regex
    return max(regex, toxicity_detector().score(text))


def _regex_score(text: str, *, toxic: bool) -> float:
    # Imported here: guardrails calls into this module, so a module-level import would be a cycle.
    from controlplane.gateway.guardrails import INJECTION_PATTERNS, TOXIC_PATTERNS, score

    return score(text, TOXIC_PATTERNS if toxic else INJECTION_PATTERNS)
