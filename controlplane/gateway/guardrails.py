"""Guardrail checks on text: PII, prompt injection, denied topics, custom regexes, toxicity.

PII, topics and custom patterns are regexes (with a Luhn check for card numbers). Prompt
injection and toxicity take two passes: weighted phrase patterns first (microseconds), then,
when those do not reach the threshold and `deep` is asked, the embedding classifiers of
`detectors` (~20 ms, so callers on an event loop run a deep check in a thread). A check returns
whether the guardrail triggered and the text with matches redacted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from controlplane.gateway.detectors import Detector, injection_detector, toxicity_detector
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


def _two_passes(
    text: str,
    patterns: tuple[tuple[re.Pattern[str], float], ...],
    detector: Callable[[], Detector],
    threshold: float,
    deep: bool,
) -> bool:
    if score(text, patterns) >= threshold:
        return True
    return deep and bool(text.strip()) and detector().score(text) >= threshold


def is_deep(guardrail: Guardrail) -> bool:
    """Whether the guardrail's check runs a model (and so belongs off the event loop)."""
    return isinstance(guardrail.spec, (PromptInjectionGuardrail, ToxicityGuardrail))


def check(guardrail: Guardrail, text: str, deep: bool = True) -> Check:
    """Run one guardrail on TEXT; without `deep`, only its fast pass."""
    spec = guardrail.spec
    match spec:
        case PiiGuardrail():
            return redact_pii(text, frozenset(e.value for e in spec.entities))
        case PromptInjectionGuardrail():
            found = _two_passes(text, INJECTION_PATTERNS, injection_detector, spec.threshold, deep)
            return Check(found, text)
        case ToxicityGuardrail():
            found = _two_passes(text, TOXIC_PATTERNS, toxicity_detector, spec.threshold, deep)
            return Check(found, text)
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
