"""The resource envelope and the value types every kind shares.

Resources use the Kubernetes envelope (apiVersion, kind, metadata, spec). YAML fields are
camelCase; Python attributes are snake_case. Every model forbids unknown fields, so a typo is an
error that names the field instead of a setting silently ignored. Resources are frozen: the
desired state is a value once it has been loaded.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

API_VERSION = "controlplane.dev/v1alpha1"


class SpecModel(BaseModel):
    """Base of every model in a resource: camelCase in YAML, no unknown fields, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # Defaults such as "1h" go through the same parsing as values written in YAML.
        validate_default=True,
    )


class FrozenValue(BaseModel):
    """Base of computed values (plans, evaluation results): immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# A DNS-1123 label, as Kubernetes names: it is used in URLs, metric labels and branch names.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Lower-case letters, digits, '-' and '.', starting and ending with a letter "
        "or digit, at most 63 characters.",
    ),
]

Percent = Annotated[float, Field(ge=0, le=100)]
# Thresholds may sit past 100% of a budget: "block at 120%" allows a planned overrun.
ThresholdPercent = Annotated[float, Field(gt=0, le=1000)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Usd = Annotated[float, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]

# Credentials are never written in the config: only where to find them at run time.
SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:\S+)$"
SecretRef = Annotated[
    str,
    Field(
        pattern=SECRET_REF_PATTERN,
        description="A reference to a credential, never the credential: 'env:VAR' reads the "
        "environment variable VAR, 'file:PATH' reads the file at PATH, at run time.",
    ),
]

HTTP_URL_PATTERN = r"^https?://[^\s/@]+(:[0-9]+)?(/\S*)?$"
HttpUrl = Annotated[
    str,
    Field(
        pattern=HTTP_URL_PATTERN,
        description="An http:// or https:// URL, without credentials in it.",
    ),
]

# Prometheus-style durations: 30s, 5m, 1h30m, 30d, 500ms.
_DURATION_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> object:
    """'1h30m' -> timedelta; anything else is passed on for pydantic to reject."""
    if isinstance(value, str) and re.fullmatch(DURATION_PATTERN, value):
        return sum(
            (int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(value)),
            timedelta(),
        )
    return value


def format_duration(value: timedelta) -> str:
    """The shortest Prometheus duration string for a timedelta: 5400 s -> '1h30m'."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = round(_DURATION_UNITS[unit].total_seconds() * 1000)
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration such as 500ms, 30s, 5m, 1h30m or 30d.",
        }
    ),
]

# Model sizes as people write them: 70B, 8B, 270M, or a plain integer.
_SIZE_SUFFIX = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
PARAMETER_COUNT_PATTERN = r"^[0-9]+(\.[0-9]+)?[KMBT]$"


def parse_parameter_count(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(PARAMETER_COUNT_PATTERN, value):
        return round(float(value[:-1]) * _SIZE_SUFFIX[value[-1]])
    return value


ParameterCount = Annotated[
    int,
    BeforeValidator(parse_parameter_count),
    Field(ge=1),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": PARAMETER_COUNT_PATTERN},
            ],
            "description": "Number of parameters: an integer, or a number with K, M, B or T, "
            "such as 70B or 270M.",
        }
    ),
]


class Metadata(SpecModel):
    name: Name = Field(description="Unique name of the resource within its kind and environment.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Free-form key/value labels, as in Kubernetes."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Free-form key/value annotations; controlplane keeps its own under "
        "controlplane.dev/.",
    )


class Resource(SpecModel):
    """The envelope. Subclasses fix `kind` and give `spec` its type."""

    KIND: ClassVar[str]
    SCOPE: ClassVar[str]  # "environment" (environments/<env>/) or "policy" (policies/)

    api_version: Literal["controlplane.dev/v1alpha1"] = Field(
        alias="apiVersion",
        description=f"The schema version of this document; must be {API_VERSION}.",
    )
    metadata: Metadata = Field(description="Name, labels and annotations.")

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def ref(self) -> str:
        """`Kind/name`, the way problems and plans name a resource."""
        return f"{self.KIND}/{self.metadata.name}"
