"""Prometheus HTTP API answers as typed values (pydantic). An answer is untrusted: anything that
does not parse as one of these is a failure of the query, never a crash of the caller."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from controlplane.answers import Answer as _Answer

# [unix time, "value"]: Prometheus writes sample values as strings ("NaN" and "+Inf" included).
Point = tuple[float, str]
Labels = Annotated[dict[str, str], Field(default_factory=dict)]


class Sample(_Answer):
    metric: Labels
    value: Point


class Series(_Answer):
    metric: Labels
    values: list[Point]


class VectorData(_Answer):
    result_type: Literal["vector"] = Field(alias="resultType")
    result: list[Sample]


class ScalarData(_Answer):
    result_type: Literal["scalar"] = Field(alias="resultType")
    result: Point


class MatrixData(_Answer):
    result_type: Literal["matrix"] = Field(alias="resultType")
    result: list[Series]


class QueryAnswer(_Answer):
    """The envelope of /api/v1/query and /api/v1/query_range."""

    status: Literal["success", "error"]
    data: (
        Annotated[VectorData | ScalarData | MatrixData, Field(discriminator="result_type")] | None
    ) = None
    error_type: str = Field(default="", alias="errorType")
    error: str = ""
