"""Guardrail checks on text: PII, prompt injection, denied topics, custom regexes, toxicity.

These are fast, dependency-free heuristics suited to a gateway's hot path: regexes (with a Luhn
check for card numbers) for PII, and weighted phrase patterns for prompt injection and toxicity.
They return whether the guardrail triggered and the text with matches redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from controlplane.spec import Guardrail
from controlplane.spec.guardrail import (
    PiiGuardrail,
    PromptInjectionGuardrail,
    RegexGuardrail,
    TopicGuardrail,
    ToxicityGuardrail,
)

PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "credit-card": re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
    "ip-address": re.compile(
        r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
    ),
    "phone": re.compile(
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})[ .-]?\d{3,4}[ .-]?\d{3,4}(?!\w)"
    ),
}
# Card numbers before phones: a card number also looks like a long phone number.
PII_ORDER = ("email", "credit-card", "ssn", "iban", "ip-address", "phone")

INJECTION_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p, re.IGNORECASE), weight)
    for p, weight in (
        (
            r"\b(ignore|disregard|forget|override)\b.{0,40}\b(previous|prior|above|earlier|all|your)"
            r"\b.{0,40}\b(instructions?|prompts?|rules|directions)\b",
            0.95,
        ),
        (
            r"\b(reveal|print|show|repeat|leak)\b.{0,40}\b(system|hidden|initial)\s+(prompt|message|"
            r"instructions?)\b",
            0.9,
        ),
        (
            r"\byou are now\b.{0,60}\b(unrestricted|jailbroken|dan|evil|without (any )?(rules|"
            r"restrictions|limits))\b",
            0.9,
        ),
        (r"\b(developer|god|jailbreak)\s+mode\b", 0.85),
        (r"\bdo anything now\b", 0.85),
        (r"\bpretend (that )?you (have no|are not bound by)\b", 0.8),
        (r"</?(system|assistant)>|\[/?INST\]|<\|im_start\|>", 0.7),
    )
)

TOXIC_PATTERNS: tuple[tuple[re.Pattern[str], float], ...] = tuple(
    (re.compile(p, re.IGNORECASE), weight)
    for p, weight in (
        (r"\b(kill|murder|hurt)\s+(yourself|urself)\b", 1.0),
        (r"\b(i will|i'll|gonna)\s+(kill|hurt|destroy)\s+you\b", 0.95),
        (r"\b(idiot|moron|stupid|worthless|pathetic)\b", 0.6),
        (r"\b(shut up|go to hell|screw you)\b", 0.7),
    )
)


@dataclass(frozen=True)
class Check:
    triggered: bool
    text: str  # with matches redacted, when the guardrail can redact


def luhn_valid(digits: str) -> bool:
    numbers = [int(d) for d in digits if d.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(numbers)):
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def redact_pii(text: str, entities: frozenset[str]) -> Check:
    triggered = False
    for entity in PII_ORDER:
        if entity not in entities:
            continue

        def replace(match: re.Match[str], entity: str = entity) -> str:
            nonlocal triggered
            if entity == "credit-card" and not luhn_valid(match.group()):
                return match.group()
            triggered = True
            return f"[REDACTED:{entity}]"

        text = PII_PATTERNS[entity].sub(replace, text)
    return Check(triggered, text)


def score(text: str, patterns: tuple[tuple[re.Pattern[str], float], ...]) -> float:
    return max((weight for pattern, weight in patterns if pattern.search(text)), default=0.0)


@cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


def check(guardrail: Guardrail, text: str) -> Check:
    spec = guardrail.spec
    match spec:
        case PiiGuardrail():
            return redact_pii(text, frozenset(e.value for e in spec.entities))
        case PromptInjectionGuardrail():
            return Check(score(text, INJECTION_PATTERNS) >= spec.threshold, text)
        case ToxicityGuardrail():
            return Check(score(text, TOXIC_PATTERNS) >= spec.threshold, text)
        case TopicGuardrail():
            lowered = text.lower()
            return Check(any(t.lower() in lowered for t in spec.denied_topics), text)
        case RegexGuardrail():
            triggered = False
            for pattern in _compiled(tuple(spec.patterns)):
                text, count = pattern.subn("[REDACTED]", text)
                triggered = triggered or count > 0
            return Check(triggered, text)
    raise AssertionError(f"unknown guardrail type {spec!r}")
