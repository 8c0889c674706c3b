"""Start a devtools server (``python -m devtools.simulator`` or ``devtools.host``) as a
subprocess, wait for its "listening on http://127.0.0.1:PORT" line, and stop it again; and,
on the server's side, catch the signals that stop it.

Used by the demo, the end-to-end tests and the benchmarks, so that all of them start, signal
and clean up the servers the same way. Only the process started here is ever signalled.
``start_host`` starts ``devtools.host`` with an environment isolated from the developer's
shell; ``wait_for`` is the one way to wait for something a server does.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
STOP_TIMEOUT_SECONDS = 15.0


class LaunchError(RuntimeError):
    """The server did not start; the message carries the end of its log."""


class ServerProcess:
    """One server subprocess: its URL, its log file, and how to stop it."""

    def __init__(self, process: subprocess.Popen[str], url: str, log_path: Path, log: IO[str]):
        """Use :meth:`start`."""
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.log_path = log_path
        self._log = log

    @classmethod
    def start(
        cls,
        module_args: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        timeout: float = 30.0,
    ) -> ServerProcess:
        """Run ``python -m <module_args>`` with ``env``; stderr goes to ``log_path``."""
        log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by stop()/kill()
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=str(PROJECT_ROOT),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )
        server = cls(process, "http://127.0.0.1:0", log_path, log)
        try:
            server.url = _wait_ready(process, module_args[0], timeout)
        except LaunchError as error:
            server._end(signal.SIGKILL)
            raise LaunchError(f"{error}\n--- log ---\n{server.log_tail()}") from None
        server.port = int(server.url.rsplit(":", 1)[1])
        return server

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: a crash, nothing flushed or stopped cleanly; returns the exit code."""
        return self._end(signal.SIGKILL)

    def log_text(self) -> str:
        """Everything the server logged so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        """The end of the log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def memory_kib(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak so far) of the process, in KiB, from /proc."""
        values: dict[str, int] = {}
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0])
        return values

    def _end(self, sig: signal.Signals, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        with contextlib.suppress(OSError):
            if self.process.stdout is not None:
                self.process.stdout.close()
        self._log.close()
        return int(self.process.returncode)


def _wait_ready(process: subprocess.Popen[str], name: str, timeout: float) -> str:
    """Read stdout until the ready line, in a thread so that the timeout holds."""
    found: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = READY.search(line)
            if match:
                found.append(match.group(1))
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout):
        raise LaunchError(f"{name} did not listen within {timeout}s")
    if not found:
        process.wait(5)
        raise LaunchError(f"{name} exited with code {process.returncode}")
    return found[0]


#: Settings a developer's shell or local.settings.json might set that would change a run.
ISOLATED_SETTINGS = (
    "QUANTUM_ENDPOINT",
    "QUANTUM_LOCATION",
    "QUANTUM_API_VERSION",
    "JOB_ALERT_EVENT_TYPES",
    "GUARDRAIL_POLICY",
    "GUARDRAIL_SCHEDULE",
    "EVENTS_TOPIC_ENDPOINT",
    "EVENTS_TOPIC_KEY",
    "DEVHOST_FUNCTION_KEY",  # a key check is asked for explicitly (env=...), never inherited
)
_IDENTITY_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_")


def start_host(
    state_dir: Path,
    *,
    quantum_endpoint: str | None = None,
    allow_loopback: bool = True,
    env: Mapping[str, str] | None = None,
    app_dir: Path = PROJECT_ROOT,
    timeout: float = 30.0,
    log_path: Path | None = None,
    log_level: str = "INFO",
    queue_polling: bool = False,
    store_journal: Path | None = None,
    port: int = 0,
) -> ServerProcess:
    """Start ``python -m devtools.host`` on a free port and wait until it listens.

    ``quantum_endpoint`` becomes QUANTUM_ENDPOINT (the simulator's URL), ``allow_loopback``
    QUANTUM_ALLOW_LOOPBACK; ``env`` adds or overrides variables; ``port`` 0 picks a free one.
    The app's identity never goes looking for a real token service (IMDS at 169.254.169.254, a
    developer's Azure login): it asks the simulator's loopback identity endpoint, or a closed
    loopback port without one. ``store_journal`` makes the host append every state it stores
    to that file.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ISOLATED_SETTINGS and not k.startswith(_IDENTITY_PREFIXES)
    }
    environment["PYTHONUNBUFFERED"] = "1"
    environment["IDENTITY_ENDPOINT"] = (
        f"{quantum_endpoint}/_simulator/identity/token"
        if quantum_endpoint
        else "http://127.0.0.1:9/no-identity"
    )
    environment["IDENTITY_HEADER"] = "devhost"
    environment["QUANTUM_ALLOW_LOOPBACK"] = "true" if allow_loopback else "false"
    environment["CALLER_TOKEN_KEY"] = _state_key(state_dir)
    if quantum_endpoint is not None:
        environment["QUANTUM_ENDPOINT"] = quantum_endpoint
    if queue_polling:
        # The polling modelled is that of the template's plan: Flex Consumption, where the
        # Azure Storage provider's default maximum interval is 1 s (devtools.host.settings).
        environment["WEBSITE_SKU"] = "FlexConsumption"
    environment.update(env or {})
    if log_path is None:
        handle, name = tempfile.mkstemp(prefix="devhost-", suffix=".log", dir=state_dir)
        os.close(handle)
        log_path = Path(name)
    args = ["devtools.host", "--port", str(port), "--app-dir", str(app_dir)]
    args += ["--state-dir", str(state_dir), "--log-level", log_level]
    if queue_polling:
        args.append("--queue-polling")
    if store_journal is not None:
        args += ["--store-journal", str(store_journal)]
    return ServerProcess.start(args, env=environment, log_path=log_path, timeout=timeout)


def _state_key(state_dir: Path) -> str:
    """A CALLER_TOKEN_KEY kept with the host's state, so a restarted host opens what the
    killed one sealed (a throwaway local key, made on first use)."""
    path = state_dir / "caller-token-key"
    if not path.exists():
        path.write_text(base64.b64encode(os.urandom(32)).decode("ascii"), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


def wait_for(
    probe: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.25,
    message: str = "condition",
) -> Any:
    """Call ``probe`` until it returns a truthy value, and return it; TimeoutError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout}s")
        time.sleep(interval)


def stop_signal() -> threading.Event:
    """Install SIGINT and SIGTERM handlers (before the server listens, so that no signal is
    missed); the event is set when either arrives. Wait on it in slices, e.g.
    ``while not stop.wait(0.5): pass``, so the main thread can run the handler."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
