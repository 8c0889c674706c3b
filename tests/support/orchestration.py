"""Drive the app's real orchestration through devtools.durable against the simulator.

The engine's virtual clock and the simulator's manual clock move together, so a cancellation
that takes half an hour of service time replays in milliseconds, with every request going over
real HTTP to the simulator and every episode through azure-functions-durable's replay engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import function_app
from appsettings import load_settings
from devtools.durable.backend import DurableEngine
from devtools.durable.clock import ManualClock
from devtools.durable.status import OrchestrationStatus
from devtools.durable.store import InMemoryStore
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from workflow.inputs import checked_cancel_input, instance_id_for
from workflow.shapes import CancelJobInput

ORCHESTRATION = "cancel_running_job"


@dataclass
class Harness:
    """One simulator, one store, one virtual clock; engines built on demand (and rebuilt)."""

    simulator: SimulatorServer
    token: str
    clock: ManualClock = field(default_factory=ManualClock)
    store: InMemoryStore = field(default_factory=InMemoryStore)

    def __post_init__(self) -> None:
        self.clock.subscribe(self.simulator.clock.advance)

    def engine(self, crash_at: int | None = None) -> DurableEngine:
        """A new engine on the shared store and clock, failing loudly on non-determinism."""
        return DurableEngine(
            function_app.app,
            store=self.store,
            clock=self.clock,
            raise_on_nondeterminism=True,
            crash_at_step=crash_at,
        )

    def request(self, job_id: str, **changes: Any) -> CancelJobInput:
        """A checked orchestration input for ``job_id`` in the simulator's default workspace."""
        body: dict[str, Any] = {
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "jobId": job_id,
            "authToken": self.token,
            "endpoint": self.simulator.url,
        }
        body.update(changes)
        return checked_cancel_input(body, load_settings())

    def run(self, request: CancelJobInput, engine: DurableEngine | None = None) -> Run:
        """Start the orchestration for ``request`` and run it to the end in virtual time."""
        engine = engine or self.engine()
        instance_id = engine.start_new(ORCHESTRATION, instance_id_for(request), request)
        engine.run_until_idle()
        return Run(engine, instance_id, self.simulator)


@dataclass
class Run:
    """A finished orchestration and what went over the wire for it."""

    engine: DurableEngine
    instance_id: str
    simulator: SimulatorServer

    @property
    def status(self) -> OrchestrationStatus:
        """The orchestration's status, history included."""
        status = self.engine.get_status(self.instance_id, show_history=True)
        assert status is not None
        return status

    @property
    def outputs(self) -> dict[str, Any]:
        """The outputs of a Completed run."""
        status = self.status
        assert status.runtime_status.value == "Completed", (status.runtime_status, status.output)
        output: dict[str, Any] = status.output
        return output

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Requests the simulator received (for one operation, when given)."""
        return [
            entry
            for entry in self.simulator.requests()
            if operation is None or entry["operation"] == operation
        ]


@pytest.fixture
def harness(simulator: SimulatorServer, sim_token: str, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A Harness over the ``simulator`` fixture, with loopback endpoints allowed."""
    monkeypatch.setenv("QUANTUM_ALLOW_LOOPBACK", "true")
    return Harness(simulator, sim_token)
