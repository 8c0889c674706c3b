"""Run the app's real orchestrations in virtual time against the simulator.

The one harness of the tests and the benchmarks: the orchestration registered in
``function_app.app`` runs through devtools.durable (real history, azure-functions-durable's
replay, determinism checked on every episode), its activities make real HTTP requests to the
simulator, and the engine's virtual clock drives the simulator's manual clock, so a
cancellation that takes half an hour of service time replays in milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import function_app
from appsettings import load_settings
from devtools.durable import DurableEngine, InMemoryStore, ManualClock, OrchestrationStatus
from devtools.durable.backend import StepHook
from devtools.durable.stats import EngineStats
from devtools.host.activity_host import StandaloneActivityHost
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from workflow.inputs import checked_cancel_input, instance_id_for
from workflow.shapes import CancelJobInput

ORCHESTRATION = "cancel_running_job"
FINISHED = ("Completed", "Failed", "Terminated")
#: Steps per call of run_until_idle when a run has a wall-time budget.
STEP_SLICE = 200


@dataclass
class Harness:
    """One simulator, one store, one virtual clock; engines built on demand (and rebuilt).

    ``rtt_seconds`` models the round trip of one request: virtual time moves that far while
    an activity's answer travels back, as it would against Azure.

    An activity with a ``durableClient`` binding gets one pointing at the latest engine's
    Durable API, served over HTTP on a free port from its first use until :meth:`close`.
    """

    simulator: SimulatorServer
    token: str
    clock: ManualClock = field(default_factory=ManualClock)
    store: InMemoryStore = field(default_factory=InMemoryStore)
    rtt_seconds: float = 0.0
    _latest: DurableEngine | None = field(default=None, init=False, repr=False)
    _client_api: StandaloneActivityHost | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.clock.subscribe(self._follow)

    def _follow(self, seconds: float) -> None:
        self.simulator.clock.advance(seconds)

    def engine(self, crash_at: int | None = None) -> DurableEngine:
        """A new engine on the shared store and clock, failing loudly on non-determinism."""
        engine = DurableEngine(
            function_app.app,
            store=self.store,
            clock=self.clock,
            raise_on_nondeterminism=True,
            crash_at_step=crash_at,
            step_hook=self._answer_travels_back if self.rtt_seconds > 0 else None,
            activity_host=self,
        )
        self._latest = engine
        if self._client_api is not None:
            self._client_api.serve(engine)
        return engine

    def client_binding(self, task_hub: str | None, connection_name: str | None) -> str:
        """An activity's ``durableClient`` value: the latest engine's API (started lazily)."""
        return self._api().client_binding(task_hub, connection_name)

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Async activity code runs on one loop, as in the worker."""
        return self._api().run_coroutine(coroutine)

    def _api(self) -> StandaloneActivityHost:
        if self._client_api is None:
            assert self._latest is not None, "no engine built yet"
            self._client_api = StandaloneActivityHost()
            self._client_api.serve(self._latest)
        return self._client_api

    def close(self) -> None:
        """Stop the client API server and its loop, if an activity started them."""
        api, self._client_api = self._client_api, None
        if api is not None:
            api.close()

    def _answer_travels_back(self, kind: str, _instance_id: str) -> None:
        # "activity_executed" is checkpointed before the result is committed, so the
        # TaskCompleted event and the next episode see the clock after the round trip.
        if kind == "activity_executed":
            self.clock.advance(self.rtt_seconds)

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

    def run(
        self,
        request: CancelJobInput,
        engine: DurableEngine | None = None,
        *,
        budget_seconds: float | None = None,
        on_slice: Callable[[DurableEngine], None] | None = None,
        hook: StepHook | None = None,
    ) -> Run:
        """Start the orchestration for ``request`` and run it to the end in virtual time.

        ``budget_seconds`` stops it (wall time) between slices of engine steps, and
        ``on_slice(engine)`` is called after each slice; ``Run.finished`` tells which it was.
        """
        return self.run_orchestration(
            ORCHESTRATION,
            instance_id_for(request),
            request,
            engine,
            budget_seconds=budget_seconds,
            on_slice=on_slice,
            hook=hook,
        )

    def run_orchestration(
        self,
        name: str,
        instance_id: str,
        payload: Any,
        engine: DurableEngine | None = None,
        *,
        budget_seconds: float | None = None,
        on_slice: Callable[[DurableEngine], None] | None = None,
        hook: StepHook | None = None,
    ) -> Run:
        """Start orchestration ``name`` as ``instance_id`` and run it as :meth:`run` does."""
        engine = engine or self.engine()
        if hook is not None:
            engine.step_hook = hook
        began = time.perf_counter()
        instance_id = engine.start_new(name, instance_id, payload)
        run = Run(engine, instance_id, self.simulator)
        if budget_seconds is None and on_slice is None:
            engine.run_until_idle()
        else:
            while not run.finished:
                engine.run_until_idle(max_steps=STEP_SLICE, raise_on_budget=False)
                if on_slice is not None:
                    on_slice(engine)
                if budget_seconds is not None and time.perf_counter() - began > budget_seconds:
                    break
        run.wall_seconds = time.perf_counter() - began
        return run


@dataclass
class Run:
    """An orchestration run and what went over the wire for it."""

    engine: DurableEngine
    instance_id: str
    simulator: SimulatorServer
    wall_seconds: float = 0.0

    @property
    def status(self) -> OrchestrationStatus:
        """The orchestration's status, history included."""
        status = self.engine.get_status(self.instance_id, show_history=True)
        assert status is not None
        return status

    @property
    def finished(self) -> bool:
        """Whether the run reached Completed, Failed or Terminated."""
        return self.status.runtime_status.value in FINISHED

    @property
    def outputs(self) -> dict[str, Any]:
        """The outputs of a Completed run."""
        status = self.status
        assert status.runtime_status.value == "Completed", (status.runtime_status, status.output)
        output: dict[str, Any] = status.output
        return output

    @property
    def stats(self) -> EngineStats:
        """The engine's counters (for this run alone when the engine ran nothing else)."""
        return self.engine.stats

    @property
    def polls(self) -> int:
        """Confirming polls made (from the outputs, or from the progress while unfinished)."""
        status = self.status
        source = status.output if self.finished and isinstance(status.output, dict) else None
        return int((source or status.custom_status or {}).get("polls", 0))

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Requests the simulator received (for one operation, when given)."""
        return [
            entry
            for entry in self.simulator.requests()
            if operation is None or entry["operation"] == operation
        ]
