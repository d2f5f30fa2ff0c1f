"""Errors on the data plane, in OpenAI's format, so client libraries raise the right exception."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse


def error(
    status: int,
    kind: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
    code: str | None = None,
) -> Response:
    """An error in OpenAI's format, so client libraries raise the right exception with it."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code or kind}}
    return JSONResponse(body, status_code=status, headers=headers)
