"""Run the app's real ``cancel_running_job`` orchestration in virtual time.

The orchestration registered in ``function_app.app`` runs through devtools.durable (real
history, azure-functions-durable's replay, determinism checked) and its activities make real
HTTP requests to the simulator, exactly as in tests/support/orchestration.py. One engine per
run, so the engine's stats belong to that run alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import function_app
from appsettings import load_settings
from devtools.durable import DurableEngine, InMemoryStore, ManualClock
from devtools.durable.stats import EngineStats
from devtools.simulator import (
    DEFAULT_RESOURCE_GROUP,
    DEFAULT_SUBSCRIPTION_ID,
    DEFAULT_WORKSPACE,
    SimulatorServer,
)
from workflow.inputs import checked_cancel_input, instance_id_for

from .environment import BENCH_TOKEN

ORCHESTRATION = "cancel_running_job"
#: Steps per call of run_until_idle, so a time budget can be checked between slices.
STEP_SLICE = 200


@dataclass
class AppRun:
    """One finished (or budget-stopped) orchestration and the engine that ran it."""

    instance_id: str
    engine: DurableEngine
    runtime_status: str
    output: Any
    custom_status: Any
    wall_seconds: float
    finished: bool

    @property
    def stats(self) -> EngineStats:
        """The engine's counters for this run alone."""
        return self.engine.stats

    @property
    def polls(self) -> int:
        """Confirming polls made (from the outputs, or from the progress when stopped)."""
        source = self.output if self.finished and isinstance(self.output, dict) else None
        source = source or self.custom_status or {}
        return int(source.get("polls", 0))


def run_app(
    simulator: SimulatorServer,
    job_id: str,
    options: dict[str, float],
    *,
    rtt_seconds: float = 0.0,
    budget_seconds: float | None = None,
    on_slice: Callable[[DurableEngine], None] | None = None,
) -> AppRun:
    """Cancel ``job_id`` through the real orchestration, in virtual time.

    ``rtt_seconds`` is the modelled round trip of one request: virtual time moves that far
    while an activity's answer travels back, as it would in Azure (the simulator logged the
    request at the moment it read the job). ``budget_seconds`` stops the run (wall time)
    between slices of engine steps; the result then says ``finished=False``.
    """
    clock = ManualClock()

    def follow(seconds: float) -> None:
        simulator.clock.advance(seconds)

    clock.subscribe(follow)

    def answer_travels_back(kind: str, _instance_id: str) -> None:
        # "activity_executed" is checkpointed before the result is committed, so the
        # TaskCompleted event and the next episode see the clock after the round trip.
        if kind == "activity_executed" and rtt_seconds > 0:
            clock.advance(rtt_seconds)

    engine = DurableEngine(
        function_app.app,
        store=InMemoryStore(),
        clock=clock,
        raise_on_nondeterminism=True,
        step_hook=answer_travels_back,
    )
    request = checked_cancel_input(
        {
            "subscriptionId": DEFAULT_SUBSCRIPTION_ID,
            "resourceGroupName": DEFAULT_RESOURCE_GROUP,
            "workspaceName": DEFAULT_WORKSPACE,
            "jobId": job_id,
            "authToken": BENCH_TOKEN,
            "endpoint": simulator.url,
            "options": options,
        },
        load_settings(),
    )
    started = time.perf_counter()
    instance_id = engine.start_new(ORCHESTRATION, instance_id_for(request), request)
    finished = False
    try:
        while True:
            engine.run_until_idle(max_steps=STEP_SLICE, raise_on_budget=False)
            if on_slice is not None:
                on_slice(engine)
            status = engine.get_status(instance_id)
            assert status is not None
            if status.runtime_status.value in ("Completed", "Failed", "Terminated"):
                finished = True
                break
            if budget_seconds is not None and time.perf_counter() - started > budget_seconds:
                break
    finally:
        engine.close()
    wall = time.perf_counter() - started
    return AppRun(
        instance_id=instance_id,
        engine=engine,
        runtime_status=status.runtime_status.value,
        output=status.output,
        custom_status=status.custom_status,
        wall_seconds=wall,
        finished=finished,
    )
