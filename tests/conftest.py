"""Shared fixtures: a running Azure Quantum data-plane simulator and its bearer token.

``simulator`` yields a :class:`devtools.simulator.SimulatorServer` (one per session, reset
before every test, manual clock) with ``.url``, ``.job_url(job_id)``, ``.jobs_url()`` and the
in-process control API (``seed_job``, ``add_fault``, ``requests``, ``job_state``,
``set_options``, ``clock.advance``...). Data-plane requests need ``Bearer <sim_token>``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.simulator import Options, SimulatorServer

pytest_plugins = ["tests.support.orchestration"]

SIM_TOKEN = "sim-test-token-6b0d3f"
#: The key that seals callers' tokens in this test process (32 bytes, base64; not a secret).
TEST_CALLER_TOKEN_KEY = "dGVzdC1vbmx5LWNhbGxlci10b2tlbi1rZXktMzJieXQ="


@pytest.fixture(autouse=True)
def _caller_token_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a deployment has it: requests with an authToken need the key to be accepted.
    monkeypatch.setenv("CALLER_TOKEN_KEY", TEST_CALLER_TOKEN_KEY)


@pytest.fixture(scope="session")
def _simulator_session() -> Iterator[SimulatorServer]:
    server = SimulatorServer(0, options=Options(token=SIM_TOKEN), manual_clock=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def simulator(_simulator_session: SimulatorServer) -> Iterator[SimulatorServer]:
    """A running simulator, reset to its defaults (manual clock, token ``sim_token``)."""
    _simulator_session.reset()
    yield _simulator_session
    _simulator_session.reset()


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorServer:
    """The simulator on the real clock, for tests that drive a devtools.host: its timers are
    real."""
    simulator.clock.set_real()
    return simulator


@pytest.fixture
def sim_token() -> str:
    """The bearer token the ``simulator`` fixture expects."""
    return SIM_TOKEN
