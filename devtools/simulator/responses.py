"""The response value handed from request handling to the HTTP layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, encode_json

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Response:
    """What to send: status, headers and body, or a wire effect instead of an answer.

    ``wire`` is ``"drop"`` (close without answering) or ``"reset"`` (send part of the
    headers, then reset the connection).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    wire: str | None = None


def json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response with the right Content-Type."""
    merged = {"Content-Type": JSON_TYPE}
    merged.update(headers or {})
    return Response(status, merged, encode_json(value))


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    """A response without a body (204, 307...)."""
    return Response(status, dict(headers or {}), b"")


def error_response(error: ApiError) -> Response:
    """The JSON error answer for ``error`` with its ``x-ms-error-code`` header."""
    headers = {"x-ms-error-code": error.code}
    headers.update(error.headers)
    return json_response(error.status, error.body(), headers)
