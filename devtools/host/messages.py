"""The host's own request/response values, independent of the HTTP server class."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Request:
    """One HTTP request as received (path still percent-encoded)."""

    method: str
    #: Path without the query string, e.g. ``/api/cancel-running-job``.
    path: str
    #: Raw query string without '?'.
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    #: ``scheme://host:port`` the client addressed (used for absolute URLs).
    origin: str

    @property
    def url(self) -> str:
        """The absolute URL of the request."""
        return self.origin + self.path + (f"?{self.query}" if self.query else "")

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def query_params(self) -> dict[str, str]:
        """Query parameters; repeated keys are joined with ',' as ASP.NET does."""
        params: dict[str, str] = {}
        for key, value in parse_qsl(self.query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        return params

    def query_param(self, name: str) -> str | None:
        """One query parameter, matched case-insensitively (as the extension does)."""
        lowered = name.lower()
        return next((v for k, v in self.query_params().items() if k.lower() == lowered), None)


@dataclass
class Response:
    """An HTTP response to send."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_response(
    status: int,
    body: Any,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> Response:
    """A JSON response."""
    return Response(
        status, [("Content-Type", content_type), *(headers or [])], json.dumps(body).encode()
    )


def text_response(status: int, text: str = "") -> Response:
    """A plain-text response (empty body when ``text`` is empty)."""
    if not text:
        return Response(status)
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")], text.encode())


def problem_response(
    status: int, title: str, detail: str, invalid: list[dict[str, str]] | None = None
) -> Response:
    """An RFC 9457 problem document from the host itself (routing, framing, size)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if invalid is not None:
        body["invalid-params"] = invalid
    return json_response(status, body, content_type="application/problem+json")
