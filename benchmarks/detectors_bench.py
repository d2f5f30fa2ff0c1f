"""Benchmark: the embedding detectors' detection and false-positive rates, and their latency.

Scores the held-out sets in tests/unit/gateway/data/ (attacks and toxic sentences that are not
in the shipped examples; ordinary prompts and answers, many of them hard negatives) with
`injection_score` and `toxicity_score` at a guardrail threshold (default 0.8, the guardrails'
default), next to the regex pass alone. Then times one call on a 50-word prompt (median of 50,
after a warm-up call that loads the model and encodes the examples) and on a 5,000-character one.

Run: .venv/bin/python benchmarks/detectors_bench.py [--threshold 0.8] [--misses]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from controlplane.gateway import detectors
from controlplane.gateway.guardrails import INJECTION_PATTERNS, TOXIC_PATTERNS, score

HELD_OUT = Path(__file__).resolve().parent.parent / "tests" / "unit" / "gateway" / "data"

PROMPT_50_WORDS = (
    "I am planning a small garden on my apartment balcony, which faces south and gets about six "
    "hours of sun. I would like to grow herbs and maybe a few vegetables in containers. Which "
    "plants would do well there, how large should the pots be, and how often should I water "
    "them in summer?"
)


def read(name: str) -> list[str]:
    lines = (HELD_OUT / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def rate(texts: list[str], scorer: Callable[[str], float], threshold: float) -> float:
    return sum(scorer(t) >= threshold for t in texts) / len(texts)


def report(
    name: str,
    positives: str,
    negatives: str,
    scorer: Callable[[str], float],
    regex: Callable[[str], float],
    detector: detectors.Detector,
    threshold: float,
    misses: bool,
) -> None:
    attacks, benign = read(positives), read(negatives)
    print(f"{name} (threshold {threshold})")
    for label, fn in (("regex only", regex), ("regex + embeddings", scorer)):
        detected = rate(attacks, fn, threshold)
        flagged = rate(benign, fn, threshold)
        print(
            f"  {label:<19} detection {detected:6.1%} of {len(attacks)} {positives:<22} "
            f"false positives {flagged:5.1%} of {len(benign)} {negatives}"
        )
    if misses:
        wrong = [(t, scorer(t)) for t in attacks if scorer(t) < threshold]
        wrong += [(t, scorer(t)) for t in benign if scorer(t) >= threshold]
        for text, value in sorted(wrong, key=lambda pair: pair[1]):
            print(f"    {value:.2f} margin {detector.margin(text):+.3f}  {text[:90]}")


def latency(scorer: Callable[[str], float], text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        scorer(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--misses", action="store_true", help="list the texts scored wrong")
    args = parser.parse_args()

    start = time.perf_counter()
    detectors.injection_score("warm-up")
    detectors.toxicity_score("warm-up")
    print(f"first calls (model load, examples encoded): {time.perf_counter() - start:.2f} s\n")

    report(
        "prompt injection",
        "injection-heldout.txt",
        "benign-prompts.txt",
        detectors.injection_score,
        lambda t: score(t, INJECTION_PATTERNS),
        detectors.injection_detector(),
        args.threshold,
        args.misses,
    )
    report(
        "toxicity",
        "toxic-heldout.txt",
        "benign-outputs.txt",
        detectors.toxicity_score,
        lambda t: score(t, TOXIC_PATTERNS),
        detectors.toxicity_detector(),
        args.threshold,
        args.misses,
    )

    # distinct sentences: repeated ones would be embedded once
    long_text = " ".join(read("benign-prompts.txt"))[:6000]
    print(f"\nlatency, median of 50 calls ({len(PROMPT_50_WORDS.split())}-word prompt):")
    print(f"  injection_score {latency(detectors.injection_score, PROMPT_50_WORDS, 50):6.1f} ms")
    print(f"  toxicity_score  {latency(detectors.toxicity_score, PROMPT_50_WORDS, 50):6.1f} ms")
    print(f"latency, median of 5 calls ({len(long_text):,} characters, read: 5,000):")
    print(f"  injection_score {latency(detectors.injection_score, long_text, 5):6.1f} ms")


if __name__ == "__main__":
    main()
