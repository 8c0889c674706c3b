"""Run ``python -m devtools.host`` as a subprocess for end-to-end tests.

``start_host(...)`` launches the host on a free port (``--port 0``) with a chosen environment
and state directory through ``devtools.launch`` and returns its ``HostProcess``: ``url``,
``stop()`` (SIGTERM, a clean exit), ``kill()`` (SIGKILL, a crash: the engine's JSON-file store
is left as it was, and a new host on the same state directory resumes the running
orchestrations) and ``log_text()`` (the host's log file).

The ``devhost`` fixture factory starts hosts for a test and stops every one afterwards::

    def test_x(devhost, simulator, tmp_path):
        host = devhost(quantum_endpoint=simulator.url)
        requests.post(host.url + "/api/cancel-running-job", json={...})

Test modules re-export it: ``devhost = tests.support.host.devhost``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from devtools.launch import PROJECT_ROOT, LaunchError, ServerProcess

HostProcess = ServerProcess
HostStartError = LaunchError
#: Settings a developer's shell or local.settings.json might set that would change the run.
_ISOLATED = ("QUANTUM_ENDPOINT", "QUANTUM_LOCATION", "QUANTUM_API_VERSION", "JOB_ALERT_EVENT_TYPES")
_IDENTITY_PREFIXES = ("AZURE_", "IDENTITY_", "MSI_")


def start_host(
    state_dir: Path,
    *,
    quantum_endpoint: str | None = None,
    allow_loopback: bool = True,
    env: Mapping[str, str] | None = None,
    app_dir: Path = PROJECT_ROOT,
    port: int = 0,
    timeout: float = 30.0,
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
    args = ["devtools.host", "--port", str(port), "--app-dir", str(app_dir)]
    args += ["--state-dir", str(state_dir)]
    return ServerProcess.start(args, env=environment, log_path=log_path, timeout=timeout)


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
    """Factory: ``devhost(**start_host kwargs)``; state dir defaults to tmp_path/state.

    Every host started through it is stopped (SIGTERM) at the end of the test.
    """
    started: list[HostProcess] = []

    def start(state_dir: Path | None = None, **kwargs: Any) -> HostProcess:
        host = start_host(state_dir or tmp_path / "state", **kwargs)
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()
