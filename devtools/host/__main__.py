"""``python -m devtools.host``: run the app like ``func start`` on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from devtools.launch import stop_signal

from .app import Host, HostOptions
from .metadata import FunctionIndexError
from .settings import SettingsFileError

#: The key to check, from the environment (keeps it off the process list).
FUNCTION_KEY_ENV = "DEVHOST_FUNCTION_KEY"
# Loggers that would print URLs with query strings or request details at INFO.
_QUIET_LOGGERS = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "urllib3",
    "aiohttp",
)


def parse_args(argv: list[str] | None = None) -> HostOptions:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.host", description="Local stand-in for `func start`."
    )
    parser.add_argument("--port", type=int, default=7071, help="0 picks a free port")
    parser.add_argument("--app-dir", type=Path, default=Path.cwd(), help="project root")
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="engine state (default <app-dir>/.devhost)"
    )
    parser.add_argument("--activity-workers", type=int, default=8)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--queue-polling",
        action="store_true",
        help="model the Azure Storage backend's idle queue polling (host.json's "
        "maxQueuePollingInterval; by default 1 s with WEBSITE_SKU=FlexConsumption, else 30 s): "
        "new runs and timers start up to that much late",
    )
    parser.add_argument(
        "--store-journal",
        type=Path,
        default=None,
        help="append every instance state the engine saves to this file, one JSON line each",
    )
    parser.add_argument(
        "--function-key",
        default=os.environ.get(FUNCTION_KEY_ENV),
        help="check function keys as Azure does: FUNCTION-level routes answer 401 without "
        f"this key (x-functions-key header or code=); env {FUNCTION_KEY_ENV}; default: "
        "no check, as with func start",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return HostOptions(
        app_dir=args.app_dir,
        port=args.port,
        state_dir=args.state_dir,
        activity_workers=args.activity_workers,
        queue_polling=args.queue_polling,
        store_journal=args.store_journal,
        function_key=args.function_key or None,
    )


def main(argv: list[str] | None = None) -> int:
    """Run until SIGINT or SIGTERM; exit status 0 on a clean stop, 1 if the app cannot load."""
    options = parse_args(argv)
    try:
        host = Host(options)
    except (FunctionIndexError, SettingsFileError) as exc:
        print(f"devtools.host: the app cannot be loaded:\n{exc}", file=sys.stderr)
        return 1
    stop = stop_signal()
    host.start()
    print(f"host listening on {host.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        host.stop()
    print("host stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
