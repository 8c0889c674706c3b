"""Assemble the host: settings, the app, its function index, the engine and the server."""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from devtools.durable import DurableEngine, JsonFileStore, QueuePolling, RealClock
from devtools.durable.limits import start_policy, timespan_seconds

from .activity_host import HostActivities
from .client_binding import DurableEndpoints
from .durable_api import DurableApi
from .event_grid import EventGridEndpoint
from .http_functions import HttpFunctions
from .invoker import FunctionInvoker
from .metadata import FunctionIndex, index_app
from .server import HostHTTPServer, Router
from .settings import (
    LOCAL_SETTINGS,
    SettingsFileError,
    apply_settings,
    read_host_json,
    read_local_settings,
)
from .timers import TimerRunner

log = logging.getLogger("devtools.host")

APP_MODULE = "function_app"
APP_ATTRIBUTE = "app"
DEFAULT_STATE_DIR = ".devhost"


@dataclass(frozen=True)
class HostOptions:
    """Command-line options of ``python -m devtools.host``."""

    app_dir: Path
    port: int = 7071
    state_dir: Path | None = None
    activity_workers: int = 8
    #: Model the Azure Storage backend's idle queue polling (host.json's maximum interval).
    queue_polling: bool = False
    #: Append every state the engine saves to this file (tests search every generation).
    store_journal: Path | None = None
    #: Check this function key on FUNCTION-level routes, as Azure does (None: no check).
    function_key: str | None = field(default=None, repr=False)

    @property
    def resolved_state_dir(self) -> Path:
        """``--state-dir``, or ``.devhost/`` in the app directory."""
        return (self.state_dir or self.app_dir / DEFAULT_STATE_DIR).resolve()


def load_app(app_dir: Path) -> Any:
    """Import ``function_app.py`` from ``app_dir`` and return its FunctionApp ``app``."""
    root = str(app_dir.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    module: ModuleType = importlib.import_module(APP_MODULE)
    app = getattr(module, APP_ATTRIBUTE, None)
    if app is None or not hasattr(app, "get_functions"):
        raise RuntimeError(f"{APP_MODULE}.py defines no FunctionApp named '{APP_ATTRIBUTE}'")
    return app


#: Written into the state directory when the host stops: the engine's counters.
STATS_FILE = "engine-stats.json"


class Host:
    """The running stand-in; ``start()`` then ``stop()``."""

    def __init__(self, options: HostOptions) -> None:
        """Read settings into os.environ, load and index the app, bind the port."""
        app_dir = options.app_dir.resolve()
        if (app_dir / LOCAL_SETTINGS).is_file():
            applied = apply_settings(read_local_settings(app_dir), os.environ)
            log.info("app settings from local.settings.json: %d applied", len(applied))
        else:
            log.warning(
                "%s not found in %s: only the environment's settings apply (copy "
                "local.settings.sample.json to %s to start from a working local set)",
                LOCAL_SETTINGS,
                app_dir,
                LOCAL_SETTINGS,
            )
        config = read_host_json(app_dir)
        try:
            policy = start_policy(config.overridable_existing_instance_states)
            polling = (
                QueuePolling(timespan_seconds(config.max_queue_polling_interval))
                if options.queue_polling
                else None
            )
        except ValueError as exc:
            raise SettingsFileError(f"{app_dir / 'host.json'}: {exc}") from exc
        self.app = load_app(app_dir)
        self.index: FunctionIndex = index_app(self.app)
        state_dir = options.resolved_state_dir
        self._stats_path = state_dir / STATS_FILE
        self.invoker = FunctionInvoker(str(app_dir))
        self.server = HostHTTPServer(options.port, _unwired_router())
        self.endpoints = DurableEndpoints(
            origin=f"http://127.0.0.1:{self.server.port}",
            hub_name=config.hub_name,
            # Like the extension's system key; local keys are not checked (as in func start).
            system_key=secrets.token_urlsafe(32),
        )
        self.engine = DurableEngine(
            self.app,
            store=JsonFileStore(state_dir / "instances", journal=options.store_journal),
            clock=RealClock(),
            activity_workers=options.activity_workers,
            start_policy=policy,
            queue_polling=polling,
            # Activities get their durableClient bindings and loop as the other functions do.
            activity_host=HostActivities(self.endpoints, self.invoker),
        )
        self.timers = TimerRunner(self.index, self.invoker, self.endpoints)
        self.server.router = Router(
            HttpFunctions(
                self.index,
                self.invoker,
                self.endpoints,
                config.route_prefix,
                options.function_key,
            ),
            DurableApi(self.engine, self.endpoints),
            EventGridEndpoint(self.index, self.invoker, self.endpoints),
            [f.describe() for f in self.index.functions],
            self.timers,
        )
        self._route_prefix = config.route_prefix
        self._keys_checked = options.function_key is not None
        self._started = False

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.endpoints.origin

    def start(self) -> None:
        """Start the event loop, the engine (resuming stored instances) and the server."""
        self.invoker.start()
        self.engine.start()
        self.server.serve_in_thread()
        self.timers.start()
        self._started = True
        for function in self.index.functions:
            if function.http is not None:
                methods = ",".join(function.http.methods)
                log.info(
                    "%s: [%s] %s/%s/%s (authLevel %s, %s)",
                    function.name,
                    methods,
                    self.url,
                    self._route_prefix,
                    function.http.route,
                    function.http.auth_level,
                    "keys checked" if self._keys_checked else "not enforced",
                )
            else:
                log.info("%s: %s", function.name, function.trigger_type)

    def stop(self) -> None:
        """Stop serving, then stop the engine and the event loop."""
        self.timers.stop()
        if self._started:
            self.server.shutdown()
        self.server.server_close()
        self.engine.stop()
        self.invoker.stop()
        self._started = False
        # The engine's counters (longest history, replay CPU) for benchmarks to read.
        self._stats_path.write_text(json.dumps(self.engine.stats.to_json()), encoding="utf-8")


def _unwired_router() -> Router:
    # The router needs the bound port (for URLs), so the server is built first.
    from .messages import Request, Response, text_response

    class _Unavailable(Router):
        def __init__(self) -> None:
            pass

        def route(self, request: Request) -> Response:
            return text_response(503)

    return _Unavailable()
