"""The ``harness`` fixture: the app's real orchestration in virtual time against the simulator.

The harness itself is ``devtools.virtual_run.Harness`` (shared with the benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.simulator import SimulatorServer
from devtools.virtual_run import ORCHESTRATION, Harness, Run

__all__ = ["ORCHESTRATION", "Harness", "Run", "harness"]


@pytest.fixture
def harness(
    simulator: SimulatorServer, sim_token: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """A Harness over the ``simulator`` fixture, with loopback endpoints allowed."""
    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "true")
    harness = Harness(simulator, sim_token)
    yield harness
    harness.close()
