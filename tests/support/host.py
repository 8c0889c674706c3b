"""The ``devhost`` fixture: ``python -m devtools.host`` subprocesses for end-to-end tests.

``devtools.launch.start_host(...)`` launches a host on a free port with an isolated
environment and returns its ``ServerProcess``: ``url``, ``stop()`` (SIGTERM, a clean exit),
``kill()`` (SIGKILL, a crash: the engine's JSON-file store is left as it was, and a new host on
the same state directory resumes the running orchestrations) and ``log_text()``. The fixture
factory starts hosts for a test and stops every one afterwards::

    def test_x(devhost, simulator):
        host = devhost(quantum_endpoint=simulator.url)
        requests.post(host.url + "/api/cancel-running-job", json={...})

Test modules re-export it: ``devhost = tests.support.host.devhost``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.launch import LaunchError, ServerProcess, start_host, wait_for

HostProcess = ServerProcess
HostStartError = LaunchError

__all__ = ["HostProcess", "HostStartError", "devhost", "module_host", "start_host", "wait_for"]


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


def module_host(
    quantum_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    env: dict[str, str] | None = None,
) -> Iterator[HostProcess]:
    """A host for a whole test module (``yield from`` it in a module-scoped fixture), its data
    plane at ``quantum_endpoint``; stopped (SIGTERM) when the module is done."""
    process = start_host(tmp_path_factory.mktemp(name), quantum_endpoint=quantum_endpoint, env=env)
    yield process
    if process.running:
        process.stop()
