"""The HTTP server: routing between the app's functions and the host's own endpoints.

Binds 127.0.0.1 only. Logs one line per request (method, path without the query string,
status, duration); never bodies, headers or query strings, which may hold tokens or keys.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .durable_api import DurableApi
from .event_grid import EventGridEndpoint
from .http_functions import HttpFunctions
from .messages import Request, Response, json_response, problem_response, text_response
from .timers import TimerRunner

access_log = logging.getLogger("devtools.host.access")
log = logging.getLogger(__name__)

RPC_PREFIX = "/durabletask"
WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
EVENT_GRID_PATH = "/runtime/webhooks/eventgrid"
ADMIN_FUNCTIONS = "/admin/functions"
#: Larger bodies are refused with a 413 problem document (the app's routes cap theirs at
#: 64 KiB and 1 MiB and answer their own problem documents below this).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: A refused body up to this size is read and dropped so the client sees the answer.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024
_MAX_CHUNK_LINE = 4096
_SAFE_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?")


class Router:
    """Sends each request to the part of the host that owns its path."""

    def __init__(
        self,
        functions: HttpFunctions,
        durable: DurableApi,
        event_grid: EventGridEndpoint,
        function_list: list[dict[str, Any]],
        timers: TimerRunner | None = None,
    ) -> None:
        """Wire the endpoint groups, the function list (``GET /admin/functions``) and the
        admin endpoint that runs a non-HTTP function (``POST /admin/functions/{name}``)."""
        self._functions = functions
        self._durable = durable
        self._event_grid = event_grid
        self._function_list = function_list
        self._timers = timers

    def route(self, request: Request) -> Response:
        """Answer ``request``."""
        lowered = request.path.lower()
        for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
            if lowered == prefix or lowered.startswith(prefix + "/"):
                return self._durable.handle(request, request.path[len(prefix) :])
        if lowered.rstrip("/") == EVENT_GRID_PATH:
            return self._event_grid.handle(request)
        if lowered.rstrip("/") == ADMIN_FUNCTIONS and request.method.upper() == "GET":
            return json_response(200, self._function_list)
        if lowered.startswith(ADMIN_FUNCTIONS + "/") and self._timers is not None:
            return self._timers.handle(request)
        if self._functions.owns(request.path):
            return self._functions.handle(request)
        return problem_response(
            404,
            "Not Found",
            f"nothing is served at {_printable(request.path)}: the app's functions are under "
            f"{self._functions.prefix_path}/, the Durable API under {WEBHOOK_PREFIX}/",
        )


class BadFraming(ValueError):
    """The request's body framing cannot be read (Content-Length, chunk sizes)."""


def too_large() -> Response:
    """The answer to a body over MAX_BODY_BYTES: a problem document naming the body, as the
    app's own routes name a body over their limits."""
    return problem_response(
        413,
        "Payload Too Large",
        f"the request body is larger than devtools.host accepts ({MAX_BODY_BYTES} bytes)",
        invalid=[{"name": "body", "reason": f"must be at most {MAX_BODY_BYTES} bytes"}],
    )


class _Handler(BaseHTTPRequestHandler):
    server: HostHTTPServer
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "devtools.host"

    def log_message(self, format: str, *args: Any) -> None:
        # BaseHTTPRequestHandler's own log line contains the query string: never emit it.
        return

    def _serve(self) -> None:
        started = time.perf_counter()
        path, _, query = self.path.partition("?")
        status = 500
        try:
            body = self._read_body()
            if body is None:
                response = too_large()
            else:
                request = Request(
                    method=self.command,
                    path=path,
                    query=query,
                    headers=list(self.headers.items()),
                    body=body,
                    origin=self._origin(),
                )
                response = self.server.router.route(request)
            status = response.status
            self._send(response)
        except BadFraming as exc:
            self.close_connection = True
            response = problem_response(400, "Bad Request", str(exc))
            status = response.status
            self._send(response)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("request handling failed")
            try:
                self._send(text_response(500))
            except OSError:
                self.close_connection = True
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1fms", self.command, _printable(path), status, elapsed)

    def _read_body(self) -> bytes | None:
        """The whole body (Content-Length or chunked, as Kestrel reads either), or None when
        it is larger than MAX_BODY_BYTES; the rest is then read and dropped, up to a bound,
        so that the client gets the answer instead of a reset connection."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadFraming("Content-Length is not a number") from None
        if length < 0:
            raise BadFraming("Content-Length is negative")
        if length > MAX_BODY_BYTES:
            self._drop(length)
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size_so_far = 0
        while True:
            line = self.rfile.readline(_MAX_CHUNK_LINE)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadFraming("a chunk size line is not hexadecimal") from None
            if size == 0:
                while self.rfile.readline(_MAX_CHUNK_LINE).strip():
                    pass  # trailer fields: none of them matter here
                break
            size_so_far += size
            if size_so_far > MAX_BODY_BYTES:
                self._drop(size)
                parts = []
                if self.close_connection:
                    return None  # too much to drain: the connection closes after the answer
            else:
                parts.append(self.rfile.read(size))
            self.rfile.readline(_MAX_CHUNK_LINE)  # the CRLF after the chunk
        return b"".join(parts) if size_so_far <= MAX_BODY_BYTES else None

    def _drop(self, length: int) -> None:
        if length > _MAX_DRAIN_BYTES:
            self.close_connection = True
            return
        while length > 0:
            read = len(self.rfile.read(min(length, 1 << 16)))
            if not read:
                break
            length -= read

    def _origin(self) -> str:
        host = self.headers.get("Host", "")
        if not _SAFE_HOST.fullmatch(host):
            host = f"127.0.0.1:{self.server.server_address[1]}"
        return f"http://{host}"

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection"):
                continue  # framing is this server's job
            self.send_header(name, value)
        bodiless = response.status in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and not bodiless and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve
    do_PATCH = _serve
    do_HEAD = _serve
    do_OPTIONS = _serve


class HostHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the router; one thread per request."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: a burst of clients (an alert storm, a load test)
    # overflows it and the kernel resets connections that the real host would have accepted.
    request_queue_size = 128

    def __init__(self, port: int, router: Router) -> None:
        """Bind 127.0.0.1:``port`` (0 picks a free port)."""
        self.router = router
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; log it once instead.
        log.exception("unhandled error while serving a request")

    def serve_in_thread(self) -> threading.Thread:
        """Serve in a background thread and return it."""
        thread = threading.Thread(target=self.serve_forever, name="http-server", daemon=True)
        thread.start()
        return thread


def _printable(path: str) -> str:
    # Paths come from clients: keep log lines single and readable.
    text = path if len(path) <= 300 else path[:300] + "…"
    return "".join(ch if ch.isprintable() else "?" for ch in text)
