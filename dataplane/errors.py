"""The data-plane exception tree. Everything the client raises derives from ``QuantumError``::

    QuantumError                      operation, transient
    ├── RequestRejected               refused locally, before any connection is opened
    │   ├── InvalidParameter          a path parameter breaks the spec's pattern
    │   ├── EndpointNotAllowed        the token would go somewhere other than Azure Quantum
    │   ├── UnsupportedApiVersion     malformed, or a version whose cancel verb is not known
    │   ├── TokenUnreadable           the caller's sealed token opens with no key
    │   └── CredentialMissing         no caller token, and no identity where the app runs
    ├── TransportError                transient: no usable HTTP response
    │   ├── ConnectError              refused, reset, DNS, TLS
    │   ├── RequestTimeout            connect or read timeout
    │   └── TokenUnavailable          the app identity could not get a token
    ├── InvalidResponse               transient: a 2xx whose body is not what the spec says
    └── ServiceError                  the service answered with an error status
        ├── TransientServiceError     408, 429, 500, 502, 503, 504 (carries retry_after)
        └── PermanentServiceError     every other error status (400, 401, 403, 404, 409, ...)

No exception carries request headers, so a bearer token cannot leak through ``str`` or
``repr``; the client also strips the token out of any text it copies from a response.
"""

from __future__ import annotations

from typing import TypedDict

TRANSIENT_STATUS_CODES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})


class ErrorInfo(TypedDict):
    """A failure in JSON form, for crossing a function boundary."""

    kind: str
    operation: str
    transient: bool
    status: int | None
    code: str | None
    message: str
    retryAfterSeconds: float | None


def failure_kind(info: ErrorInfo) -> str:
    """What failed, in a few words: ``HTTP 503`` for a status, else the error class's name."""
    return f"HTTP {info['status']}" if info["status"] is not None else info["kind"]


class QuantumError(Exception):
    """Root of every data-plane failure; ``operation`` names the spec operation involved."""

    transient = False

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(message)
        self.operation = operation
        self.message = message

    def __str__(self) -> str:
        return f"{self.operation}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(operation={self.operation!r}, message={self.message!r})"

    def to_info(self) -> ErrorInfo:
        """Describe the failure as plain JSON-serialisable data."""
        return ErrorInfo(
            kind=type(self).__name__,
            operation=self.operation,
            transient=self.transient,
            status=None,
            code=None,
            message=self.message,
            retryAfterSeconds=None,
        )


class RequestRejected(QuantumError, ValueError):
    """The request was refused before any connection was opened."""


class InvalidParameter(RequestRejected):
    """A path parameter does not match the pattern the spec gives for it."""

    def __init__(self, operation: str, parameter: str, problem: str) -> None:
        super().__init__(operation, f"{parameter} {problem}")
        self.parameter = parameter


class EndpointNotAllowed(RequestRejected):
    """The endpoint is not an https Azure Quantum host (nor an allowed loopback one)."""


class UnsupportedApiVersion(RequestRejected):
    """The api-version is malformed or falls where the cancel verb is not known."""


class TokenUnreadable(RequestRejected):
    """The caller's sealed token opens with none of the keys (see dataplane.sealing)."""


class CredentialMissing(RequestRejected):
    """The request carries no token and the app has no identity to sign in with here: a
    setting is missing, which no retry can fix; the message says what to set."""


class TransportError(QuantumError):
    """No usable HTTP response arrived; worth retrying."""

    transient = True


class ConnectError(TransportError):
    """The connection failed or broke (refused, reset, name resolution, TLS)."""


class RequestTimeout(TransportError):
    """The connection or the response took longer than the configured timeout."""


class TokenUnavailable(TransportError):
    """The app's identity could not get a token (identity endpoint unreachable or failing)."""


class InvalidResponse(QuantumError):
    """A success status with a body the spec does not allow (not JSON, no status, ...)."""

    transient = True

    def __init__(self, operation: str, status: int, message: str) -> None:
        super().__init__(operation, message)
        self.status = status

    def to_info(self) -> ErrorInfo:
        """Describe the failure, including the HTTP status it came with."""
        info = super().to_info()
        info["status"] = self.status
        return info


class ServiceError(QuantumError):
    """The service answered with an error status and (usually) an error body."""

    def __init__(
        self,
        operation: str,
        status: int,
        code: str | None,
        message: str,
        retry_after: float | None = None,
    ) -> None:
        text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        super().__init__(operation, text)
        self.status = status
        self.code = code
        self.service_message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(operation={self.operation!r}, status={self.status}, "
            f"code={self.code!r}, message={self.service_message!r})"
        )

    def to_info(self) -> ErrorInfo:
        """Describe the failure with status, service error code and Retry-After."""
        return ErrorInfo(
            kind=type(self).__name__,
            operation=self.operation,
            transient=self.transient,
            status=self.status,
            code=self.code,
            message=self.service_message,
            retryAfterSeconds=self.retry_after,
        )


class TransientServiceError(ServiceError):
    """Throttling or a server-side fault; retry, after ``retry_after`` seconds when given."""

    transient = True


class PermanentServiceError(ServiceError):
    """A client-side error the same request will hit again; never retried."""


def service_error(
    operation: str, status: int, code: str | None, message: str, retry_after: float | None
) -> ServiceError:
    """Build the transient or permanent error that an HTTP error ``status`` calls for."""
    if status in TRANSIENT_STATUS_CODES:
        return TransientServiceError(operation, status, code, message, retry_after)
    return PermanentServiceError(operation, status, code, message, retry_after)
