"""Value types of the spec: durations, parameter counts, quantization sizes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from controlplane.spec.base import Duration, ParameterCount, format_duration, parse_duration
from controlplane.spec.model import Quantization

DURATION = TypeAdapter(Duration)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("1h30m", timedelta(minutes=90)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(days=14)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert DURATION.validate_python(text) == expected
    assert DURATION.dump_python(expected) == format_duration(expected)


@given(st.integers(min_value=0, max_value=10**12))
def test_duration_format_round_trips(millis: int) -> None:
    value = timedelta(milliseconds=millis)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("text", ["", "5", "5 m", "1.5h", "-1m", "m"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValidationError):
        DURATION.validate_python(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("70B", 70 * 10**9), ("270M", 270 * 10**6), ("1.5T", 1_500_000_000_000), (8, 8)],
)
def test_parameter_counts(value: object, expected: int) -> None:
    assert TypeAdapter(ParameterCount).validate_python(value) == expected


def test_bytes_per_parameter() -> None:
    sizes = {q.value: q.bytes_per_parameter for q in Quantization}
    assert sizes == {"fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
