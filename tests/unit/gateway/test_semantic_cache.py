"""The semantic cache: paraphrases hit, near-misses do not, and scopes, TTLs, the size bound and
the file behave."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from controlplane.gateway.embedder import Embedder, load_embedder
from controlplane.gateway.same_question import same_question
from controlplane.gateway.semantic_cache import RECOMMENDED_THRESHOLD, SemanticCache
from tests.unit.gateway.cache_pairs import NEAR_MISSES, PARAPHRASES

SCOPE = "route=chat;team=a;model=m"
HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture
def batches(embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch of texts the embedder is asked for, from now on."""
    seen: list[list[str]] = []
    encode = embedder.encode

    def counting(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        seen.append(list(texts))
        return encode(texts)

    monkeypatch.setattr(embedder, "encode", counting)
    return seen


def answer(text: str) -> dict[str, Any]:
    return {"object": "chat.completion", "choices": [{"message": {"content": text}}]}


def test_paraphrases_hit_and_near_misses_do_not(embedder: Embedder) -> None:
    """All cached prompts share one scope, as on a busy route: a paraphrase must get its own
    pair's answer, and a near-miss no answer at all."""
    cache = SemanticCache(embedder)
    for cached in dict.fromkeys([a for a, _ in PARAPHRASES] + [a for a, _, _ in NEAR_MISSES]):
        cache.store(SCOPE, cached, answer(cached), HOUR)
    wrong = []
    for cached, query in PARAPHRASES:
        hit = cache.lookup(SCOPE, query, RECOMMENDED_THRESHOLD, HOUR)
        if hit is None or hit.answer != answer(cached):
            wrong.append(f"{query!r} got {hit and hit.prompt!r}, not {cached!r}")
    for _, query, why in NEAR_MISSES:
        hit = cache.lookup(SCOPE, query, RECOMMENDED_THRESHOLD, HOUR)
        if hit is not None:
            wrong.append(f"{query!r} ({why}) got {hit.prompt!r} at {hit.similarity:.3f}")
    assert wrong == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I delete a branch in git?", "How can I delete a git branch?"),
        ("What are the health benefits of green tea?", "What are green tea's health benefits?"),
        ("Give me five tips", "Give me 5 tips"),
        ("How to convert a string to an int", "How do I convert a string into an int"),
    ],
)
def test_the_guard_lets_paraphrases_through(a: str, b: str) -> None:
    assert same_question(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("convert Celsius to Fahrenheit", "convert Fahrenheit to Celsius"),
        ("flights from Paris to London", "flights from London to Paris"),
        ("Paris to London flights", "flights from London to Paris"),
        ("why does the cat chase the dog", "why does the dog chase the cat"),
        ("What is 1,000 divided by 8?", "What is 1000 divided by 9?"),
        ("Can I eat this?", "Can't I eat this?"),
        ("Is it safe?", "Is it unsafe?"),
        ("Convert 5 km to miles", "Convert 5 miles to km"),
        ("Who founded Google?", "Who founded Amazon?"),
        ("Find a hotel near the Louvre", "Find a hotel near the Colosseum"),
    ],
)
def test_the_guard_rejects_a_different_question(a: str, b: str) -> None:
    assert not same_question(a, b)
    assert not same_question(b, a)


def test_exact_mode_needs_no_embedder() -> None:
    cache = SemanticCache(None)
    cache.store(SCOPE, "What is  2 + 2?\n", answer("4"), HOUR)
    hit = cache.lookup(SCOPE, " What is 2 + 2?", 1.0, HOUR)
    assert hit is not None
    assert (hit.answer, hit.similarity) == (answer("4"), 1.0)
    assert cache.lookup(SCOPE, "what is 2 + 2?", 1.0, HOUR) is None  # case counts
    assert cache.lookup(SCOPE, "What's 2 + 2?", 0.5, HOUR) is None  # no embedder: exact only


def test_exact_mode_does_not_use_similarity(embedder: Embedder) -> None:
    cache = SemanticCache(embedder)
    cache.store(SCOPE, "How do I reset my password?", answer("a"), HOUR)
    assert cache.lookup(SCOPE, "How can I reset my password?", 1.0, HOUR) is None
    assert cache.lookup(SCOPE, "How can I reset my password?", 0.9, HOUR) is not None


def test_scopes_do_not_share_entries(embedder: Embedder) -> None:
    cache = SemanticCache(embedder)
    cache.store("team=a", "How do I reset my password?", answer("a"), HOUR)
    assert cache.lookup("team=b", "How do I reset my password?", 1.0, HOUR) is None
    assert cache.lookup("team=b", "How can I reset my password?", 0.5, HOUR) is None
    assert cache.lookup("team=a", "How can I reset my password?", 0.9, HOUR) is not None


def test_entries_expire(embedder: Embedder) -> None:
    clock = Clock()
    cache = SemanticCache(embedder, clock=clock)
    cache.store(SCOPE, "How do I reset my password?", answer("a"), 10)
    clock.now += 9
    assert cache.lookup(SCOPE, "How can I reset my password?", 0.9, HOUR) is not None
    assert cache.lookup(SCOPE, "How do I reset my password?", 0.9, 5) is None  # a shorter TTL now
    clock.now += 1
    assert cache.lookup(SCOPE, "How can I reset my password?", 0.9, HOUR) is None
    assert cache.lookup(SCOPE, "How do I reset my password?", 1.0, HOUR) is None
    assert len(cache) == 0  # dropped, not only skipped


def test_the_oldest_entries_make_room(embedder: Embedder) -> None:
    cache = SemanticCache(embedder, max_entries=3)
    prompts = [
        "How do I reset my password?",
        "What is the capital of France?",
        "Why is the sky blue?",
        "How do I cancel my subscription?",
    ]
    for prompt in prompts:
        cache.store(SCOPE, prompt, answer(prompt), HOUR)
    assert len(cache) == 3
    assert cache.lookup(SCOPE, "How can I reset my password?", 0.9, HOUR) is None
    hit = cache.lookup(SCOPE, "How can I cancel my subscription?", 0.9, HOUR)
    assert hit is not None
    assert hit.answer == answer("How do I cancel my subscription?")


def test_only_semantic_lookups_run_the_model(embedder: Embedder, batches: list[list[str]]) -> None:
    cache = SemanticCache(embedder)
    for prompt in ("How do I reset my password?", "Why is the sky blue?"):
        assert cache.lookup(SCOPE, prompt, 1.0, HOUR) is None
        cache.store(SCOPE, prompt, answer(prompt), HOUR)
    assert batches == []  # exact matching never embeds
    hit = cache.lookup(SCOPE, "How can I reset my password?", 0.9, HOUR)
    assert hit is not None
    assert hit.prompt == "How do I reset my password?"
    assert batches == [
        ["How can I reset my password?"],
        ["How do I reset my password?", "Why is the sky blue?"],  # the entries, once
    ]
    batches.clear()
    assert cache.lookup(SCOPE, "Why is grass green?", 0.9, HOUR) is None
    cache.store(SCOPE, "Why is grass green?", answer("chlorophyll"), HOUR)
    assert batches == [["Why is grass green?"]]  # the store reuses the lookup's vector


def test_a_hit_is_a_copy(embedder: Embedder) -> None:
    cache = SemanticCache(embedder)
    cache.store(SCOPE, "Why is the sky blue?", answer("Rayleigh scattering"), HOUR)
    first = cache.lookup(SCOPE, "Why is the sky blue?", 1.0, HOUR)
    assert first is not None
    first.answer["choices"].clear()
    again = cache.lookup(SCOPE, "Why is the sky blue?", 1.0, HOUR)
    assert again is not None
    assert again.answer == answer("Rayleigh scattering")


def test_long_prompts_match_exactly_only(embedder: Embedder) -> None:
    """Past the model's 256 tokens the rest of a prompt would not count: "...summarize it" and
    "...translate it" would embed alike."""
    text = "Here is a long document. " * 60
    cache = SemanticCache(embedder)
    cache.store(SCOPE, text + "Summarize it.", answer("summary"), HOUR)
    assert cache.lookup(SCOPE, text + "Translate it.", 0.5, HOUR) is None
    assert cache.lookup(SCOPE, text + "Summarize it.", 0.5, HOUR) is not None


def test_entries_survive_a_restart(
    embedder: Embedder, tmp_path: Path, batches: list[list[str]]
) -> None:
    path = tmp_path / "cache.npz"
    clock = Clock()
    cache = SemanticCache(embedder, path=path, clock=clock)
    for scope, prompt, ttl in (
        (SCOPE, "How do I reset my password?", HOUR),
        ("team=b", "Why is the sky blue?", 10),
        (SCOPE, "A prompt saved when already expired", 0),
    ):
        assert cache.lookup(scope, prompt, 0.9, HOUR) is None
        cache.store(scope, prompt, answer(prompt), ttl)
    cache.close()
    clock.now += 60  # the second entry expires meanwhile
    batches.clear()
    again = SemanticCache(embedder, path=path, clock=clock)
    assert len(again) == 1
    hit = again.lookup(SCOPE, "How can I reset my password?", 0.9, HOUR)
    assert hit is not None
    assert hit.answer == answer("How do I reset my password?")
    assert batches == [["How can I reset my password?"]]  # the entry's vector came from the file
    assert again.lookup("team=b", "Why is the sky blue?", 1.0, HOUR) is None
    exact_only = SemanticCache(None, path=path, clock=clock)
    assert exact_only.lookup(SCOPE, "How do I reset my password?", 1.0, HOUR) is not None
    exact_only.store(SCOPE, "Why is grass green?", answer("c"), HOUR)
    exact_only.close()  # keeps the vector it cannot use
    batches.clear()
    assert SemanticCache(embedder, path=path, clock=clock).lookup(
        SCOPE, "How can I reset my password?", 0.9, HOUR
    )
    assert batches == [["How can I reset my password?"], ["Why is grass green?"]]


def test_store_saves_at_most_every_interval(embedder: Embedder, tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    clock = Clock()
    cache = SemanticCache(embedder, path=path, clock=clock, save_interval=30)
    cache.store(SCOPE, "Why is the sky blue?", answer("a"), HOUR)
    assert not path.exists()
    clock.now += 30
    cache.store(SCOPE, "Why is grass green?", answer("b"), HOUR)
    assert path.exists()
    assert len(SemanticCache(None, path=path, clock=clock)) == 2


def test_a_damaged_file_is_ignored(
    embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cache.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    leftover = tmp_path / ".cache.npz.x1y2.tmp"  # a crash mid-save left it
    leftover.write_bytes(b"half")
    with caplog.at_level(logging.WARNING):
        cache = SemanticCache(embedder, path=path)
    assert len(cache) == 0
    assert "ignoring the semantic cache file" in caplog.text
    assert not leftover.exists()
    cache.store(SCOPE, "Why is the sky blue?", answer("a"), HOUR)
    cache.close()
    assert len(SemanticCache(embedder, path=path)) == 1
