"""Call the app's functions as the Python worker does.

Async functions run on one long-lived event loop in its own thread: the worker has a single
loop, and the Durable SDK keeps one module-level aiohttp session that is bound to the loop it
was created on, so a loop per call would break the second call. Sync functions run in the
calling (request) thread, which plays the part of the worker's thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .metadata import CONTEXT_PARAMETER, FunctionInfo

log = logging.getLogger(__name__)
_STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class InvocationContext:
    """The worker's ``context`` argument, reduced to what apps commonly read."""

    function_name: str
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_directory: str = ""
    trace_context: Any = None
    retry_context: Any = None


class FunctionInvoker:
    """Runs user functions: async ones on the shared loop, sync ones inline."""

    def __init__(self, function_directory: str = "") -> None:
        """Create the loop (not yet running); call :meth:`start` before invoking."""
        self._function_directory = function_directory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="function-loop", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> None:
        """Start the event loop thread."""
        self._thread.start()

    def stop(self) -> None:
        """Close the SDK's HTTP session, then stop the loop and its thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self.run_coroutine(_close_durable_session(), timeout=_STOP_TIMEOUT_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_STOP_TIMEOUT_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()

    def run_coroutine(self, coroutine: Any, timeout: float | None = None) -> Any:
        """Run ``coroutine`` on the shared loop and wait for its result."""
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def invoke(self, function: FunctionInfo, arguments: Mapping[str, Any]) -> Any:
        """Call ``function`` with ``arguments`` (by binding name); exceptions propagate."""
        kwargs = dict(arguments)
        if function.wants_context:
            kwargs[CONTEXT_PARAMETER] = InvocationContext(
                function_name=function.name, function_directory=self._function_directory
            )
        if function.is_async:
            return self.run_coroutine(function.user_function(**kwargs))
        result = function.user_function(**kwargs)
        if inspect.isawaitable(result):
            # A sync wrapper may still hand back an awaitable; the worker awaits it too.
            return self.run_coroutine(_await(result))
        return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _close_durable_session() -> None:
    # The SDK keeps one aiohttp session per process; close it on its own loop.
    from azure.durable_functions.models.utils import http_utils

    await http_utils._close_session()
