"""Consumer: a client of the data plane, its API keys (by hash or reference), routes and limits."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from controlplane.spec.base import Name, Resource, SecretRef, SpecModel
from controlplane.spec.route import RateLimits

Sha256 = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{64}$",
        description='The SHA-256 of the key, 64 lower-case hex digits (`printf %s "$KEY" | '
        "sha256sum`).",
    ),
]


class ApiKey(SpecModel):
    name: Name = Field(
        description="Names this key (e.g. its issue month), so a rotation can tell keys apart "
        "in logs and metrics without showing them."
    )
    sha256: Sha256 | None = Field(default=None, description="The key's hash; set this or secret.")
    secret: SecretRef | None = Field(
        default=None,
        description="Where the gateway reads the key at run time; set this or sha256.",
    )

    @model_validator(mode="after")
    def _one_form(self) -> ApiKey:
        if (self.sha256 is None) == (self.secret is None):
            raise ValueError("give exactly one of sha256 and secret")
        return self


class ConsumerSpec(SpecModel):
    team: Name | None = Field(
        default=None, description="The team the consumer belongs to; team budgets count it."
    )
    keys: list[ApiKey] = Field(
        min_length=1,
        description="Keys that identify this consumer. Two or more during a rotation: add the "
        "new key, move the clients, then remove the old one.",
    )
    routes: list[Name] = Field(
        default_factory=list,
        description="Routes the consumer may call; empty allows every route.",
    )
    rate_limits: RateLimits = Field(
        default_factory=RateLimits,
        description="Limits over all of this consumer's keys and routes together; a request "
        "over them gets 429.",
    )


class Consumer(Resource):
    KIND: ClassVar[str] = "Consumer"
    SCOPE: ClassVar[str] = "environment"
    kind: Literal["Consumer"] = Field(description="Always Consumer.")
    spec: ConsumerSpec = Field(description="Team, keys, allowed routes and rate limits.")
