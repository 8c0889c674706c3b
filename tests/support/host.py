"""Run ``python -m devtools.host`` as a subprocess for end-to-end tests.

``HostProcess.start(...)`` launches the host on a free port (``--port 0``) with a chosen
environment and state directory, waits for its "host listening on http://127.0.0.1:PORT" line,
and exposes ``url``. ``stop()`` sends SIGTERM (clean exit) and ``kill()`` sends SIGKILL (a
crash: the engine's JSON-file store is left as it was, and a new host on the same state
directory resumes the running orchestrations). The host's stderr (its log) goes to a file,
readable with ``log_text()``.

The ``devhost`` fixture factory starts hosts for a test and stops every one afterwards::

    def test_x(devhost, simulator, tmp_path):
        host = devhost(quantum_endpoint=simulator.url)
        requests.post(host.url + "/api/cancel-running-job", json={...})

Test modules re-export it: ``devhost = tests.support.host.devhost``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"host listening on (http://127\.0\.0\.1:(\d+))")
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 15.0
#: Settings a developer's shell or local.settings.json might set that would change the run.
_ISOLATED = ("QUANTUM_ENDPOINT", "QUANTUM_LOCATION", "QUANTUM_API_VERSION", "JOB_ALERT_EVENT_TYPES")
_IDENTITY_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_", "IDENTITY_ENDPOINT")


class HostStartError(RuntimeError):
    """The host exited or did not report readiness in time; the message has its log."""


class HostProcess:
    """One ``devtools.host`` subprocess."""

    def __init__(
        self,
        process: subprocess.Popen[str],
        url: str,
        state_dir: Path,
        log_path: Path,
        log_file: IO[str],
    ) -> None:
        """Use :meth:`start`."""
        self.process = process
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.state_dir = state_dir
        self.log_path = log_path
        self._log_file = log_file

    @classmethod
    def start(
        cls,
        state_dir: Path,
        *,
        quantum_endpoint: str | None = None,
        allow_loopback: bool = True,
        env: Mapping[str, str] | None = None,
        app_dir: Path = PROJECT_ROOT,
        port: int = 0,
        timeout: float = DEFAULT_START_TIMEOUT,
        log_path: Path | None = None,
    ) -> HostProcess:
        """Start a host and wait until it listens.

        ``quantum_endpoint`` becomes QUANTUM_ENDPOINT (the simulator's URL);
        ``allow_loopback`` sets QUANTUM_ALLOW_LOOPBACK; ``env`` adds or overrides variables.
        """
        state_dir.mkdir(parents=True, exist_ok=True)
        environment = {
            k: v
            for k, v in os.environ.items()
            if k not in _ISOLATED and not k.startswith(_IDENTITY_PREFIXES)
        }
        environment["PYTHONUNBUFFERED"] = "1"
        # The app's identity must never go looking for a real token service (IMDS at
        # 169.254.169.254, a developer's Azure login): by default it asks the simulator's
        # loopback identity endpoint, or a closed loopback port when there is no simulator.
        environment["IDENTITY_ENDPOINT"] = (
            f"{quantum_endpoint}/_simulator/identity/token"
            if quantum_endpoint
            else "http://127.0.0.1:9/no-identity"
        )
        environment["IDENTITY_HEADER"] = "devhost-tests"
        environment["QUANTUM_ALLOW_LOOPBACK"] = "true" if allow_loopback else "false"
        if quantum_endpoint is not None:
            environment["QUANTUM_ENDPOINT"] = quantum_endpoint
        environment.update(env or {})
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="devhost-", suffix=".log", dir=state_dir)
            os.close(handle)
            log_path = Path(name)
        log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        command = [
            sys.executable,
            "-m",
            "devtools.host",
            "--port",
            str(port),
            "--app-dir",
            str(app_dir),
            "--state-dir",
            str(state_dir),
        ]
        process = subprocess.Popen(
            command,
            cwd=str(PROJECT_ROOT),
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            bufsize=1,
        )
        try:
            url = _wait_ready(process, timeout)
        except HostStartError as exc:
            _terminate(process, signal.SIGKILL, DEFAULT_STOP_TIMEOUT)
            log_file.close()
            raise HostStartError(f"{exc}\n--- host log ---\n{_read(log_path)}") from None
        return cls(process, url, state_dir, log_path, log_file)

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process.poll() is None

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        code = _terminate(self.process, signal.SIGTERM, timeout)
        self._close()
        return code

    def kill(self) -> int:
        """SIGKILL: a crash, nothing is flushed or stopped cleanly; returns the exit code."""
        code = _terminate(self.process, signal.SIGKILL, DEFAULT_STOP_TIMEOUT)
        self._close()
        return code

    def log_text(self) -> str:
        """Everything the host logged so far."""
        return _read(self.log_path)

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdout is not None:
                self.process.stdout.close()
        self._log_file.close()


def _wait_ready(process: subprocess.Popen[str], timeout: float) -> str:
    """Read stdout until the readiness line (in a thread, so the timeout holds)."""
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
        raise HostStartError(f"devtools.host did not listen within {timeout}s")
    if not found:
        process.wait(5)
        raise HostStartError(f"devtools.host exited with code {process.returncode}")
    return found[0]


def _terminate(process: subprocess.Popen[str], sig: signal.Signals, timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return int(process.returncode)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def wait_for(
    probe: Callable[[], Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.25,
    message: str = "condition",
) -> Any:
    """Call ``probe`` until it returns a truthy value; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{message} not reached within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def devhost(tmp_path: Path) -> Iterator[Callable[..., HostProcess]]:
    """Factory: ``devhost(**HostProcess.start kwargs)``; state dir defaults to tmp_path/state.

    Every host started through it is stopped (SIGTERM) at the end of the test.
    """
    started: list[HostProcess] = []

    def start(state_dir: Path | None = None, **kwargs: Any) -> HostProcess:
        host = HostProcess.start(state_dir or tmp_path / "state", **kwargs)
        started.append(host)
        return host

    yield start
    for host in started:
        if host.running:
            host.stop()
        else:
            host._close()
