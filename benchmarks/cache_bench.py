"""Benchmark: the semantic cache's cost per lookup and its accuracy on the labelled prompts.

Loads all-MiniLM-L6-v2 (numpy, CPU) and times the embedding of one short sentence. Then fills
one scope of a SemanticCache with ENTRIES answers: the cached side of every labelled pair
(tests/unit/gateway/cache_pairs.py) and generated questions on other topics, and looks up the
other side of every pair once, timing each lookup (embedding, one matrix-vector product over
the scope, the guard). A paraphrase counts as a hit when it gets its own pair's answer; any
answer to a near-miss is a false hit. Last, a threshold sweep over the pairs alone shows what
the guard (`same_question`) and the threshold each contribute.

Run: .venv/bin/python benchmarks/cache_bench.py [--entries 1000] [--threshold 0.9]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.gateway.embedder import Embedder, load_embedder
from controlplane.gateway.same_question import same_question
from controlplane.gateway.semantic_cache import RECOMMENDED_THRESHOLD, SemanticCache
from tests.unit.gateway.cache_pairs import MISSED_PARAPHRASES, NEAR_MISSES, PARAPHRASES

SCOPE = "route=bench;team=a;model=m;temperature=0"
TTL = 3600.0
FORMS = (
    "How do I choose a {}?",
    "What is the history of the {}?",
    "How do I clean a {}?",
    "What are common problems with a {}?",
    "How much does a {} cost to maintain?",
    "Write a short poem about a {}.",
    "How do I repair a broken {}?",
    "What should a beginner know about the {}?",
    "How is a {} made?",
    "Where can I recycle an old {}?",
    "Is a used {} worth buying?",
    "How long does a {} usually last?",
    "What safety tips apply to a {}?",
    "How do I store a {} over the winter?",
    "Describe the parts of a {}.",
)
THINGS = """violin, tent, aquarium, kayak, telescope, sewing machine, espresso grinder, chainsaw,
harmonica, skateboard, greenhouse, beehive, snowboard, typewriter, accordion, hammock,
compost bin, sourdough starter, bonsai tree, fountain pen, vinyl turntable, canoe, lawn mower,
pressure cooker, bread maker, ukulele, microscope, rowing machine, treadmill, fireplace,
chandelier, sailboat, saddle, trampoline, weather vane, grandfather clock, pottery wheel, loom,
banjo, metronome, wood stove, bird feeder, rain barrel, solar panel, heat pump, water softener,
dehumidifier, air fryer, slow cooker, kiln, forge, anvil, lathe, band saw, router table, jigsaw,
sander, drill press, harp, cello, tuba, sundial, hourglass, compass, sextant, abacus, quill,
printing press, spinning wheel, butter churn"""


def distractors(count: int) -> list[str]:
    """COUNT questions on topics the labelled pairs do not touch."""
    things = [thing.strip() for thing in THINGS.split(",")]
    made = (form.format(thing) for thing, form in itertools.product(things, FORMS))
    return list(itertools.islice(made, count))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def embedding_latency(embedder: Embedder) -> list[float]:
    for _ in range(5):
        embedder.encode(["How do I reset my password?"])  # warm-up
    times = []
    for _ in range(50):
        start = time.perf_counter()
        embedder.encode(["How do I reset my password?"])
        times.append(time.perf_counter() - start)
    return times


def fill(embedder: Embedder, entries: int) -> tuple[SemanticCache, list[float]]:
    """A cache as a semantic route fills it: every answer stored after a lookup missed."""
    cache = SemanticCache(embedder, max_entries=entries * 2)
    cached = list(
        dict.fromkeys(
            [a for a, _ in PARAPHRASES]
            + [a for a, _, _ in NEAR_MISSES]
            + [a for a, _, _ in MISSED_PARAPHRASES]
        )
    )
    times = []
    for prompt in cached + distractors(entries - len(cached)):
        start = time.perf_counter()
        cache.lookup(SCOPE, prompt, RECOMMENDED_THRESHOLD, TTL)
        cache.store(SCOPE, prompt, {"cached": prompt}, TTL)
        times.append(time.perf_counter() - start)
    return cache, times


def quantiles(values: list[float]) -> str:
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
    return f"{ms(statistics.median(values))} | {ms(p95)} | {ms(max(values))}"


def accuracy(cache: SemanticCache, threshold: float) -> None:
    times: dict[str, list[float]] = {"hit": [], "miss": [], "again": []}
    cpu = 0.0
    outcome = {"must": 0, "known": 0, "wrong entry": 0, "false hit": 0}
    pairs = [(a, b, "must") for a, b in PARAPHRASES]
    pairs += [(a, b, "known") for a, b, _ in MISSED_PARAPHRASES]
    pairs += [(a, b, "near") for a, b, _ in NEAR_MISSES]
    for cached, query, kind in pairs:
        start, start_cpu = time.perf_counter(), time.process_time()
        hit = cache.lookup(SCOPE, query, threshold, TTL)
        times["hit" if hit else "miss"].append(time.perf_counter() - start)
        cpu += time.process_time() - start_cpu
        start = time.perf_counter()
        cache.lookup(SCOPE, query, threshold, TTL)  # its vector is memoized now
        times["again"].append(time.perf_counter() - start)
        if hit is not None and kind == "near":
            outcome["false hit"] += 1
        elif hit is not None:
            outcome[kind if hit.answer["cached"] == cached else "wrong entry"] += 1
    print(f"\nLookups against {len(cache)} entries in one scope, threshold {threshold}:")
    print("| path | lookups | p50 | p95 | max |")
    print("|---|---|---|---|---|")
    for name, label in (
        ("hit", "hit (embedding + search + guard)"),
        ("miss", "miss (embedding + search + guard)"),
        ("again", "the same again, vector memoized (search + guard)"),
    ):
        print(f"| {label} | {len(times[name])} | {quantiles(times[name])} |")
    print(f"CPU time per first lookup (process_time, all threads): {ms(cpu / len(pairs))}")
    every = len(PARAPHRASES) + len(MISSED_PARAPHRASES)
    served = outcome["must"] + outcome["known"]
    print(
        f"paraphrases that must hit: {outcome['must']}/{len(PARAPHRASES)}; all paraphrases: "
        f"{served}/{every} ({served / every:.0%}); answered with another entry: "
        f"{outcome['wrong entry']}"
    )
    print(f"near-misses answered (false hits): {outcome['false hit']}/{len(NEAR_MISSES)}")


def sweep(embedder: Embedder) -> None:
    """Each pair on its own: its score, whether the guard lets it through."""

    def scored(pairs: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        vectors = embedder.encode([p for pair in pairs for p in pair])
        scores = (vectors[0::2] * vectors[1::2]).sum(axis=1)
        return [(float(s), same_question(a, b)) for s, (a, b) in zip(scores, pairs, strict=True)]

    must = scored(PARAPHRASES)
    missed = scored([(a, b) for a, b, _ in MISSED_PARAPHRASES])
    near = scored([(a, b) for a, b, _ in NEAR_MISSES])
    every = must + missed
    print("\nScores (cosine similarity) of the pairs:")
    print("| pairs | count | min | median | max |")
    print("|---|---|---|---|---|")
    for name, group in (
        ("paraphrases that must hit", must),
        ("paraphrases the cache misses", missed),
        ("near-misses the guard rejects", [p for p in near if not p[1]]),
        ("near-misses left to the threshold", [p for p in near if p[1]]),
    ):
        values = [s for s, _ in group]
        print(
            f"| {name} | {len(values)} | {min(values):.3f} | {np.median(values):.3f} | "
            f"{max(values):.3f} |"
        )
    print("\nThreshold sweep over the pairs (hit = score at least the threshold, and the guard):")
    print("| threshold | must-hit paraphrases | all paraphrases | false hits | without guard |")
    print("|---|---|---|---|---|")
    for t in (0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.95):
        print(
            f"| {t:.2f} | {sum(s >= t and g for s, g in must)}/{len(must)} | "
            f"{sum(s >= t and g for s, g in every) / len(every):.0%} | "
            f"{sum(s >= t and g for s, g in near)}/{len(near)} | "
            f"{sum(s >= t for s, _ in near)}/{len(near)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1000, help="entries in the scope")
    parser.add_argument("--threshold", type=float, default=RECOMMENDED_THRESHOLD)
    args = parser.parse_args()
    start = time.perf_counter()
    embedder = load_embedder()
    print(f"model loaded in {ms(time.perf_counter() - start)}")
    times = embedding_latency(embedder)
    print(
        f"embedding one short sentence: median {ms(statistics.median(times))}, "
        f"min {ms(min(times))}, max {ms(max(times))} (50 calls)"
    )
    cache, times = fill(embedder, args.entries)
    print(
        f"filled {len(cache)} entries, each a lookup that missed and a store: median "
        f"{ms(statistics.median(times))}, total {sum(times):.1f} s"
    )
    accuracy(cache, args.threshold)
    sweep(embedder)


if __name__ == "__main__":
    main()
