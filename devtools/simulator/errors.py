"""Error bodies and the error codes the simulator answers with.

Every data-plane error is ``{"error": {"code", "message", "target"?}}`` (the spec's
``Azure.Core.Foundations.ErrorResponse``) with an ``x-ms-error-code`` header carrying the code.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

# The codes, in one place so the README and the tests can name them.
MISSING_API_VERSION = "MissingApiVersionParameter"
UNSUPPORTED_API_VERSION = "UnsupportedApiVersion"
INVALID_PARAMETER = "InvalidParameter"
INVALID_REQUEST_BODY = "InvalidRequestBody"
MISSING_REQUIRED_PROPERTY = "MissingRequiredProperty"
JOB_NOT_FOUND = "JobNotFound"
SESSION_NOT_FOUND = "SessionNotFound"
NOT_FOUND = "NotFound"
METHOD_NOT_ALLOWED = "MethodNotAllowed"
INVALID_JOB_STATE = "InvalidJobState"
AUTHENTICATION_FAILED = "AuthenticationFailed"
INVALID_TOKEN = "InvalidAuthenticationToken"
PAYLOAD_TOO_LARGE = "PayloadTooLarge"

# Codes for injected HTTP faults, as a gateway in front of the service would name them.
FAULT_CODES: dict[int, str] = {
    408: "RequestTimeout",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class ApiError(Exception):
    """An error answer: HTTP status, service error code, message and optional target."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Build the error; ``headers`` are extra response headers (e.g. ``Allow``)."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return error_body(self.code, self.message, self.target)


def error_body(code: str, message: str, target: str | None = None) -> dict[str, Any]:
    """``{"error": {...}}`` with ``target`` only when there is one."""
    error: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    return {"error": error}


def fault_code(status: int) -> str:
    """The error code used for an injected HTTP fault with this status."""
    if status in FAULT_CODES:
        return FAULT_CODES[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Error"
    return "".join(word.capitalize() for word in phrase.replace("-", " ").split())


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, the way the service sends it."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8")
