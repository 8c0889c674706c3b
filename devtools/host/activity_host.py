"""What an activity gets besides its input, as the Functions host and Python worker give it:
the value of each ``durableClient`` binding and the worker's one event loop.

``HostActivities`` is devtools.host's own (the binding points at the host's Durable API).
``StandaloneActivityHost`` is for an engine run outside devtools.host (the virtual-time
harness of the tests and benchmarks): it serves that engine's Durable client API on a port of
its own, so an activity's DurableOrchestrationClient talks HTTP to the engine as it does under
the host.
"""

from __future__ import annotations

import secrets
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from devtools.durable import DurableEngine

from .client_binding import DurableEndpoints, client_binding_json
from .durable_api import DurableApi
from .invoker import FunctionInvoker
from .messages import Request, Response, text_response
from .server import RPC_PREFIX, WEBHOOK_PREFIX, HostHTTPServer, Router

#: The task hub a standalone engine reports (the engine itself has no hub).
STANDALONE_HUB = "DevtoolsHub"


@dataclass(frozen=True)
class HostActivities:
    """devtools.host's bindings: its Durable API endpoints and its invoker's loop."""

    endpoints: DurableEndpoints
    invoker: FunctionInvoker

    def client_binding(self, task_hub: str | None, connection_name: str | None) -> str:
        """The ``durableClient`` JSON string, as HTTP and timer functions receive it."""
        return client_binding_json(self.endpoints, task_hub, connection_name)

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run on the host's one event loop (the SDK's HTTP session is bound to it)."""
        return self.invoker.run_coroutine(coroutine)


class _DurableOnly(Router):
    """A router that serves only the Durable APIs, of whichever engine was last given."""

    def __init__(self) -> None:
        self.durable: DurableApi | None = None

    def route(self, request: Request) -> Response:
        lowered = request.path.lower()
        for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
            if self.durable is not None and (lowered == prefix or lowered.startswith(prefix + "/")):
                return self.durable.handle(request, request.path[len(prefix) :])
        return text_response(404)


class StandaloneActivityHost:
    """An engine's Durable client API on 127.0.0.1 (a free port) and one event loop.

    Call :meth:`serve` with the engine (again whenever the engine is rebuilt on the same
    store), and :meth:`close` when done.
    """

    def __init__(self) -> None:
        """Bind a free port and start the server and the loop."""
        self._router = _DurableOnly()
        self._server = HostHTTPServer(0, self._router)
        self._endpoints = DurableEndpoints(
            origin=f"http://127.0.0.1:{self._server.port}",
            hub_name=STANDALONE_HUB,
            system_key=secrets.token_urlsafe(16),
        )
        self._invoker = FunctionInvoker()
        self._invoker.start()
        self._server.serve_in_thread()
        self._activities = HostActivities(self._endpoints, self._invoker)

    def serve(self, engine: DurableEngine) -> None:
        """Answer client requests from ``engine`` from now on."""
        self._router.durable = DurableApi(engine, self._endpoints)

    def client_binding(self, task_hub: str | None, connection_name: str | None) -> str:
        """The ``durableClient`` JSON string pointing at this server."""
        return self._activities.client_binding(task_hub, connection_name)

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run on this host's one event loop."""
        return self._activities.run_coroutine(coroutine)

    def close(self) -> None:
        """Stop serving and stop the loop (closing the SDK's HTTP session on it)."""
        self._server.shutdown()
        self._server.server_close()
        self._invoker.stop()
