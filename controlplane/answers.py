"""Answers from the systems controlplane depends on (Prometheus, forges, gateways) are untrusted:
adapters read them as pydantic models of only the fields they use, and say in one short phrase
what did not fit when an answer is not the documented shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class Answer(BaseModel):
    """Base of an adapter's view of an answer: immutable, extra fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def misfit(exc: ValidationError) -> str:
    """Where the first mismatch is and what was wrong there, e.g. 'data.result: Input should be
    a valid list' (never the value itself, which may be large or sensitive)."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(map(str, error["loc"])) or "the body"
    return f"{where}: {error['msg']}"
