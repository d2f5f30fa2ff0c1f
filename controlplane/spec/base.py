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
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

API_VERSION = "controlplane.dev/v1alpha1"


# Every value has a domain: no string (or mapping key) longer than this, no number that is not
# finite. The JSON Schemas say the same (controlplane.schema), so editors and CI agree.
MAX_STRING = 4096


class SpecModel(BaseModel):
    """Base of every model in a resource: camelCase in YAML, no unknown fields, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        # Defaults such as "1h" go through the same parsing as values written in YAML.
        validate_default=True,
        allow_inf_nan=False,  # `.inf` would become `Infinity` in JSON plans, `nan` in Markdown
        str_max_length=MAX_STRING,
    )


class FrozenValue(BaseModel):
    """Base of computed values (plans, evaluation results): immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# An RFC 1123 label, as Kubernetes names: names become URL paths, metric labels, branch names
# and Kubernetes object names, so no dots ('a..b') and nothing else a label does not allow.
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="A DNS label (RFC 1123): lower-case letters, digits and '-', starting and "
        "ending with a letter or digit, at most 63 characters.",
    ),
]

Percent = Annotated[float, Field(ge=0, le=100)]
# Thresholds may sit past 100% of a budget: "block at 120%" allows a planned overrun.
ThresholdPercent = Annotated[float, Field(gt=0, le=1000)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Usd = Annotated[float, Field(ge=0, le=1e9)]
PositiveInt = Annotated[int, Field(ge=1, le=10**9)]

# Credentials are never written in the config: only where to find them at run time.
SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:\S+)$"
# Pseudo-filesystems a credential can never be: reading them leaks process state or never ends.
FORBIDDEN_SECRET_ROOTS = ("/proc", "/dev", "/sys")


def check_file_reference(reference: str) -> str:
    """A `file:` reference must name an absolute path, climb nowhere and stay off the
    pseudo-filesystems; where it may read at run time is the operator's to say (credentials)."""
    if reference.startswith("file:"):
        path = reference.removeprefix("file:")
        parts = path.split("/")
        if not path.startswith("/") or ".." in parts or "." in parts:
            raise ValueError("a file: reference must be an absolute path without '.' or '..'")
        if any(path == root or path.startswith(root + "/") for root in FORBIDDEN_SECRET_ROOTS):
            raise ValueError("a file: reference may not point into /proc, /dev or /sys")
    return reference


SecretRef = Annotated[
    str,
    Field(
        pattern=SECRET_REF_PATTERN,
        description="A reference to a credential, never the credential: 'env:VAR' reads the "
        "environment variable VAR, 'file:/PATH' reads the file at the absolute PATH (inside a "
        "directory the operator allows), at run time.",
    ),
    AfterValidator(check_file_reference),
]

# A port is 1 to 65535: the alternatives spell that range out, digit by digit.
_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
HTTP_URL_PATTERN = rf"^https?://(\[[0-9A-Fa-f:.]+\]|[^\s/@:\[\]]+)(:{_PORT})?(/\S*)?$"
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
# Units from the largest down, each at most once with at most four digits, as Prometheus writes
# them: bounded by construction (under 220 years), so no duration can overflow.
DURATION_PATTERN = (
    r"^([0-9]{1,4}w)?([0-9]{1,4}d)?([0-9]{1,4}h)?([0-9]{1,4}m)?([0-9]{1,4}s)?([0-9]{1,4}ms)?$"
)
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> object:
    """'1h30m' -> timedelta; anything else is passed on for pydantic to reject."""
    if isinstance(value, str) and value and re.fullmatch(DURATION_PATTERN, value):
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
            "minLength": 2,
            "description": "A duration such as 500ms, 30s, 5m, 1h30m or 30d: units from the "
            "largest (w, d, h, m, s, ms), each once, at most four digits each.",
        }
    ),
]

# Model sizes as people write them: 70B, 8B, 270M, or a plain integer.
_SIZE_SUFFIX = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
PARAMETER_COUNT_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,3})?[KMBT]$"
MAX_PARAMETERS = 10**15


def parse_parameter_count(value: object) -> object:
    if isinstance(value, str) and re.fullmatch(PARAMETER_COUNT_PATTERN, value):
        return round(float(value[:-1]) * _SIZE_SUFFIX[value[-1]])
    return value


ParameterCount = Annotated[
    int,
    BeforeValidator(parse_parameter_count),
    Field(ge=1, le=MAX_PARAMETERS),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_PARAMETERS},
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
