"""HTTP layer: the request handler, wire-level faults, and :class:`SimulatorServer`.

The server binds 127.0.0.1 only, speaks HTTP/1.1 with keep-alive and exact Content-Length,
and sends no body on 204.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import control, dataplane, events, identity
from .core import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    Simulator,
)
from .errors import ApiError
from .options import Options
from .responses import Response, error_response

HOST = "127.0.0.1"
MAX_BODY_BYTES = 1024 * 1024
_PARTIAL_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/js"


class _TooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time and hands it to the data plane or the control API."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY a keep-alive client
    # waits for the delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    server_version = "AzureQuantumSimulator/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _HTTPServer

    def version_string(self) -> str:
        """The ``Server`` header."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record, not stderr."""

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _TooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _TooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (_TooLarge, ValueError):
            self.close_connection = True
            self._send(
                error_response(
                    ApiError(413, "PayloadTooLarge", "The request body is too large or malformed.")
                )
            )
            return
        raw_path, _, query = self.path.partition("?")
        sim = self.server.simulator
        if raw_path == identity.PATH:
            response = identity.handle(sim, query, self.headers.get("X-IDENTITY-HEADER"))
        elif raw_path == control.PREFIX or raw_path.startswith(control.PREFIX + "/"):
            response = control.handle(sim, self.command, raw_path, body)
        elif raw_path == events.PATH:
            response = events.handle(sim, self.command, self.headers, body)
        else:
            response = dataplane.handle(
                sim, dataplane.Request(self.command, raw_path, query, self.headers, body)
            )
        self._send(response)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

    def _send(self, response: Response) -> None:
        if response.wire == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if response.wire == "reset":
            self._reset()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        no_body = response.status == 204 or 100 <= response.status < 200
        if not no_body and "Content-Length" not in response.headers:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and not no_body and self.command != "HEAD":
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Send the start of a response, then abort the connection with a TCP RST."""
        self.close_connection = True
        self.wfile.write(_PARTIAL_HEADERS)
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.connection.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client-side disconnects are normal here (faults cause them); stay quiet."""


class SimulatorServer(Simulator):
    """The simulator plus its HTTP server, started on a daemon thread.

    Every in-process control method of :class:`core.Simulator` is available on it
    (``reset``, ``seed_job``, ``add_fault``, ``requests``, ``job_state``, ``set_options``,
    ``clock``...).
    """

    def __init__(
        self,
        port: int = 0,
        *,
        options: Options | None = None,
        manual_clock: bool = False,
        seeds: list[dict[str, Any]] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """Prepare a server for ``port`` (0 picks a free one); :meth:`start` binds it.

        ``tls`` serves https with that server context (clients that insist on https for a
        bearer token, like the official SDK, then talk to it unchanged)."""
        super().__init__(options, manual_clock=manual_clock, seeds=seeds)
        self._tls = tls
        self._requested_port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatorServer:
        """Bind 127.0.0.1 and serve on a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer(self._requested_port, self)
        if self._tls is not None:
            self._httpd.socket = self._tls.wrap_socket(self._httpd.socket, server_side=True)
        self.base_url = self.url
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="quantum-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        """Start on entry."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on exit."""
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("the simulator is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https`` when serving TLS)."""
        return f"{'https' if self._tls else 'http'}://{HOST}:{self.port}"

    def workspace_url(
        self,
        subscription_id: str = DEFAULT_SUBSCRIPTION_ID,
        resource_group: str = DEFAULT_RESOURCE_GROUP,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> str:
        """Absolute URL of a workspace (the data-plane path prefix)."""
        return (
            f"{self.url}/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Quantum/workspaces/{workspace}"
        )

    def jobs_url(self, **workspace: str) -> str:
        """Absolute URL of the jobs collection (Jobs_List), without api-version."""
        return f"{self.workspace_url(**workspace)}/jobs"

    def job_url(self, job_id: str, **workspace: str) -> str:
        """Absolute URL of one job (Jobs_Get/Create/Delete), without api-version."""
        return f"{self.jobs_url(**workspace)}/{job_id}"
