"""Guardrail: a check on prompts or completions, and what to do when it triggers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from controlplane.spec.base import Fraction, Resource, SpecModel


class Stage(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


class Action(StrEnum):
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"


class PiiEntity(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CREDIT_CARD = "credit-card"
    SSN = "ssn"
    IP_ADDRESS = "ip-address"
    IBAN = "iban"


class _GuardrailCommon(SpecModel):
    stage: Stage = Field(description="Check the prompt (input) or the completion (output).")
    action: Action = Field(
        description="block: reject the request; redact: replace the match; flag: count it and "
        "let it through."
    )


class PromptInjectionGuardrail(_GuardrailCommon):
    type: Literal["prompt-injection"] = Field(description="Detect prompt-injection attempts.")
    threshold: Fraction = Field(default=0.8, description="Score at which the guardrail triggers.")


class PiiGuardrail(_GuardrailCommon):
    type: Literal["pii"] = Field(description="Detect personal data.")
    entities: list[PiiEntity] = Field(
        min_length=1,
        description="Kinds of personal data: email, phone, credit-card, ssn, ip-address, iban.",
    )


class ToxicityGuardrail(_GuardrailCommon):
    type: Literal["toxicity"] = Field(description="Detect toxic language.")
    threshold: Fraction = Field(default=0.8, description="Score at which the guardrail triggers.")


class TopicGuardrail(_GuardrailCommon):
    type: Literal["topic"] = Field(description="Keep conversations off denied topics.")
    denied_topics: list[str] = Field(min_length=1, description="Topics to refuse.")


class RegexGuardrail(_GuardrailCommon):
    type: Literal["regex"] = Field(description="Match custom regular expressions.")
    patterns: list[str] = Field(
        min_length=1, description="Python regular expressions; any match triggers."
    )


GuardrailSpec = Annotated[
    PromptInjectionGuardrail | PiiGuardrail | ToxicityGuardrail | TopicGuardrail | RegexGuardrail,
    Field(discriminator="type"),
]

# Only guardrails that locate a span of text can replace it.
REDACTABLE_TYPES = frozenset({"pii", "regex"})


class Guardrail(Resource):
    KIND: ClassVar[str] = "Guardrail"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Guardrail"] = Field(description="Always Guardrail.")
    spec: GuardrailSpec = Field(description="The check (by type), its stage and its action.")
