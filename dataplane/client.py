"""The HTTP client for Jobs_Get, Jobs_Cancel and Jobs_List.

It builds each request from checked coordinates (``resources``), the verb the api-version calls
for (``versions``) and an endpoint that passed the policy (``endpoint``); it sends it on a
``requests.Session`` of the calling thread, with timeouts, never following redirects and never
keeping cookies; and it turns every failure into one of the exceptions of ``errors``. Every
attempt carries a fresh GUID in ``x-ms-client-request-id`` (and asks the service to echo it),
and is reported to the ``observer`` as an :class:`Exchange`, so it can be found in the
service's own logs. It makes one attempt per call: retrying is the orchestration's decision,
made with durable timers.
"""

from __future__ import annotations

import email.utils
import json
import platform
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from azure.core.exceptions import ClientAuthenticationError
from requests.adapters import HTTPAdapter

from .auth import NoCredential, TokenProvider
from .errors import (
    ConnectError,
    CredentialMissing,
    InvalidResponse,
    QuantumError,
    RequestTimeout,
    TokenUnavailable,
    UnsupportedApiVersion,
    service_error,
)
from .resources import JobRef, WorkspaceRef
from .versions import cancel_request, require_supported

APP_NAME = "cancel-running-job"
APP_VERSION = "0.1.0"
USER_AGENT = (
    f"{APP_NAME}/{APP_VERSION} python-requests/{requests.__version__} "
    f"Python/{platform.python_version()}"
)
CANCEL_ACCEPTED_CODES = frozenset({200, 202, 204})
# Azure services put millisecond hints in these before the standard header.
_RETRY_AFTER_MS_HEADERS = ("retry-after-ms", "x-ms-retry-after-ms")
_MAX_MESSAGE = 500

JobDetails = dict[str, Any]


@dataclass(frozen=True)
class CancelOutcome:
    """What Jobs_Cancel answered: the HTTP status and, when a body came back, the job's status."""

    http_status: int
    job_status: str | None


@dataclass(frozen=True)
class Exchange:
    """One attempt on the wire, for logs and traces: never a header or a token."""

    operation: str
    method: str
    #: The origin requested and the path (no query: only api-version would be in it).
    origin: str
    path: str
    api_version: str
    client_request_id: str
    #: The service's ``x-ms-request-id`` (None when no answer came).
    request_id: str | None
    status: int | None
    #: When the attempt started (Unix epoch, nanoseconds) and how long it took.
    started_ns: int
    seconds: float
    error: str | None = None


Observer = Callable[[Exchange], None]

# requests.Session is not documented as thread-safe and keeps cookies: each worker thread
# gets its own pooled session, and no session stores a cookie.
_sessions = threading.local()
_all_sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
_all_lock = threading.Lock()


def thread_session() -> requests.Session:
    """The calling thread's session (made on first use): pooled connections, no cookies."""
    session: requests.Session | None = getattr(_sessions, "session", None)
    if session is None:
        session = requests.Session()
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _sessions.session = session
        with _all_lock:
            _all_sessions.add(session)
    return session


def close_sessions() -> None:
    """Drop every thread's pooled connections (tests that close a port use it)."""
    with _all_lock:
        sessions = list(_all_sessions)
    for session in sessions:
        session.close()


class QuantumJobsClient:
    """Jobs operations on one endpoint and api-version, authenticated by a token provider."""

    def __init__(
        self,
        endpoint: str,
        api_version: str,
        credential: TokenProvider,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        observer: Observer | None = None,
    ) -> None:
        """Create a client. ``endpoint`` must already have passed the endpoint policy;
        ``observer`` is told of every attempt."""
        require_supported(api_version, "client")
        self._endpoint = endpoint.rstrip("/")
        self._api_version = api_version
        self._credential = credential
        self._session = session
        self._timeout = (connect_timeout, read_timeout)
        self._observer = observer
        self._token_seen: str | None = None

    def __repr__(self) -> str:
        return f"QuantumJobsClient(endpoint={self._endpoint!r}, api_version={self._api_version!r})"

    def get_job(self, job: JobRef) -> JobDetails:
        """Jobs_Get: return the job's details; the body must be an object with a status."""
        job.require_valid("Jobs_Get")
        response = self._send("Jobs_Get", "GET", self._url(job.path()))
        body = self._json_body("Jobs_Get", response)
        if not isinstance(body.get("status"), str):
            raise InvalidResponse("Jobs_Get", response.status_code, "job details have no status")
        return body

    def cancel_job(self, job: JobRef) -> CancelOutcome:
        """Jobs_Cancel with the verb of this client's api-version; 200, 202 and 204 succeed."""
        job.require_valid("Jobs_Cancel")
        request = cancel_request(self._api_version)
        response = self._send(
            "Jobs_Cancel", request.method, self._url(job.path() + request.path_suffix)
        )
        status: str | None = None
        if response.content:
            # A body that came back broken is retried like any other broken 2xx: sending the
            # cancel again is harmless, trusting a mangled answer is not.
            body = self._json_body("Jobs_Cancel", response)
            if isinstance(body.get("status"), str):
                status = body["status"]
        return CancelOutcome(response.status_code, status)

    def list_jobs(
        self,
        workspace: WorkspaceRef,
        *,
        filter: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
    ) -> Iterator[JobDetails]:
        """Jobs_List: yield every job, following ``nextLink`` page by page."""
        items, next_link = self.list_page(
            workspace, filter=filter, top=top, skip=skip, orderby=orderby
        )
        yield from items
        while next_link:
            items, next_link = self.list_page(workspace, next_link=next_link)
            yield from items

    def list_page(
        self,
        workspace: WorkspaceRef,
        *,
        session_id: str | None = None,
        filter: str | None = None,
        top: int | None = None,
        skip: int | None = None,
        orderby: str | None = None,
        next_link: str | None = None,
    ) -> tuple[list[JobDetails], str | None]:
        """One page of Jobs_List (SessionsJobs_List with ``session_id``) and its nextLink;
        ``next_link`` continues a listing as the service said (its own query wins)."""
        workspace.require_valid("Jobs_List")
        operation = "SessionsJobs_List" if session_id else "Jobs_List"
        collection = (
            f"{workspace.session_path(session_id)}/jobs" if session_id else workspace.jobs_path()
        )
        if next_link is not None:
            url = self._next_page(next_link, collection, operation)
        else:
            query = {
                name: str(value)
                for name, value in (
                    ("filter", filter),
                    ("top", top),
                    ("skip", skip),
                    ("orderby", orderby),
                )
                if value is not None
            }
            url = self._url(collection, query)
        response = self._send(operation, "GET", url)
        body = self._json_body(operation, response)
        items = body.get("value")
        if not isinstance(items, list):
            raise InvalidResponse(operation, response.status_code, "page has no value list")
        link = body.get("nextLink")
        return [item for item in items if isinstance(item, dict)], (link or None)

    def list_quotas(self, workspace: WorkspaceRef) -> list[dict[str, Any]]:
        """Quotas_List (``GET …/quotas``): every Quota of the workspace, all pages followed."""
        workspace.require_valid("Quotas_List")
        collection = f"{workspace.path()}/quotas"
        url = self._url(collection)
        quotas: list[dict[str, Any]] = []
        while True:
            body = self._json_body("Quotas_List", self._send("Quotas_List", "GET", url))
            items = body.get("value")
            if not isinstance(items, list):
                raise InvalidResponse("Quotas_List", 200, "page has no value list")
            quotas.extend(item for item in items if isinstance(item, dict))
            link = body.get("nextLink")
            if not link:
                return quotas
            url = self._next_page(link, collection, "Quotas_List")

    def close_session(self, workspace: WorkspaceRef, session_id: str) -> None:
        """Sessions_Close: the session accepts no new jobs (2025-12-01-preview and later)."""
        workspace.require_valid("Sessions_Close")
        if cancel_request(self._api_version).method != "POST":
            raise UnsupportedApiVersion(
                "Sessions_Close", f"api-version {self._api_version!r} has no sessions"
            )
        url = self._url(workspace.session_path(session_id) + ":close")
        self._json_body("Sessions_Close", self._send("Sessions_Close", "POST", url))

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        params = {"api-version": self._api_version, **(query or {})}
        return f"{self._endpoint}{path}?{urlencode(params)}"

    def _next_page(self, next_link: object, collection: str, operation: str = "Jobs_List") -> str:
        # A nextLink comes from the response: it must not take the token to another origin
        # or outside this workspace's job collection.
        if not isinstance(next_link, str):
            raise InvalidResponse(operation, 200, "nextLink is not a string")
        parts = urlsplit(next_link)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin != self._endpoint.lower() or parts.path != collection:
            raise InvalidResponse(operation, 200, "nextLink points outside the job collection")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.setdefault("api-version", self._api_version)
        return f"{self._endpoint}{parts.path}?{urlencode(query)}"

    def _send(self, operation: str, method: str, url: str) -> requests.Response:
        try:
            token = self._credential.token()
        except NoCredential as exc:
            raise CredentialMissing(operation, str(exc)) from exc
        except ClientAuthenticationError as exc:
            # The identity endpoint refused, timed out or failed: as transient as a dropped
            # connection, and retried the same way.
            raise TokenUnavailable(operation, f"no token: {type(exc).__name__}") from exc
        self._token_seen = token
        client_request_id = str(uuid.uuid4())
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "x-ms-client-request-id": client_request_id,
            "x-ms-return-client-request-id": "true",
        }
        parts = urlsplit(url)
        started_ns = time.time_ns()
        started = time.monotonic()

        def report(response: requests.Response | None, error: QuantumError | None) -> None:
            if self._observer is not None:
                self._observer(
                    Exchange(
                        operation=operation,
                        method=method,
                        origin=f"{parts.scheme}://{parts.netloc}",
                        path=parts.path,
                        api_version=self._api_version,
                        client_request_id=client_request_id,
                        request_id=(
                            response.headers.get("x-ms-request-id")
                            if response is not None
                            else None
                        ),
                        status=response.status_code if response is not None else None,
                        started_ns=started_ns,
                        seconds=time.monotonic() - started,
                        error=type(error).__name__ if error is not None else None,
                    )
                )

        try:
            response = (self._session or thread_session()).request(
                method, url, headers=headers, timeout=self._timeout, allow_redirects=False
            )
            # Read the body here so a connection dropped mid-body is a transport error.
            response.content  # noqa: B018
        except requests.Timeout as exc:
            timed_out = RequestTimeout(operation, f"{method} timed out")
            report(None, timed_out)
            raise timed_out from exc
        except requests.RequestException as exc:
            failed = ConnectError(operation, f"{method} failed: {type(exc).__name__}")
            report(None, failed)
            raise failed from exc
        error = self._status_error(operation, response)
        report(response, error)
        if error is not None:
            raise error
        return response

    def _status_error(self, operation: str, response: requests.Response) -> QuantumError | None:
        """The error an answer's status stands for, or None when it is the expected one."""
        status = response.status_code
        if operation == "Jobs_Cancel" and status in CANCEL_ACCEPTED_CODES:
            return None
        if status >= 300:
            return self._error(operation, response)
        if status != 200 or operation == "Jobs_Cancel":
            # Only 200, 202 and 204 accept a cancel, and only 200 answers a read: anything
            # else (201, 206, ...) is not an answer this app can trust.
            return InvalidResponse(operation, status, f"unexpected HTTP {status} answer")
        return None

    def _json_body(self, operation: str, response: requests.Response) -> dict[str, Any]:
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            raise InvalidResponse(operation, response.status_code, "body is not JSON") from exc
        if not isinstance(body, dict):
            raise InvalidResponse(operation, response.status_code, "body is not a JSON object")
        return body

    def _error(self, operation: str, response: requests.Response) -> QuantumError:
        code = response.headers.get("x-ms-error-code")
        message = ""
        try:
            body = json.loads(response.content) if response.content else None
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            if isinstance(error.get("code"), str):
                code = error["code"]
            if isinstance(error.get("message"), str):
                message = error["message"]
        if not message:
            message = response.reason or ""
        return service_error(
            operation,
            response.status_code,
            self._redact(code) if code else None,
            self._redact(message)[:_MAX_MESSAGE],
            retry_after_seconds(response.headers),
        )

    def _redact(self, text: str) -> str:
        # The service has no reason to echo the token, but if it ever did, it stops here.
        if self._token_seen and self._token_seen in text:
            return text.replace(self._token_seen, "<redacted>")
        return text


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Read how long the service asked to wait: ms headers, then Retry-After (seconds or date)."""
    for name in _RETRY_AFTER_MS_HEADERS:
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / 1000.0)
            except ValueError:
                pass
    raw = headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)
