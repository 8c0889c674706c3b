"""A faithful stand-in for the Durable Functions extension's orchestration loop.

Drives an azure.functions app's orchestrations through the real SDK handler, keeps a
DurableTask-shaped history, detects replay non-determinism, runs activities for real,
and persists every step so crash/resume behaviour can be tested. See backend.DurableEngine.

Virtual time (tests)::

    engine = DurableEngine(function_app.app, clock=ManualClock(), raise_on_nondeterminism=True)
    engine.start_new("cancel_running_job", "inst-1", {"jobId": "..."})
    engine.run_until_idle()                      # timers jump the clock, no real waiting
    status = engine.get_status("inst-1", show_history=True)

Real time (local host)::

    engine = DurableEngine(function_app.app, store=JsonFileStore(".devhost/durable"))
    engine.start()                               # run_forever in a background thread
    engine.start_new("cancel_running_job", None, payload)
    engine.wait_for_completion(instance_id, timeout=60)
    engine.stop()
"""

from .backend import DurableEngine
from .clock import Clock, ManualClock, RealClock
from .crash import run_with_crashes
from .errors import (
    DurableEngineError,
    EngineCrashedError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InstanceNotRunningError,
    NonDeterminismError,
    SimulatedCrash,
    StepBudgetExceeded,
    UnknownFunctionError,
)
from .functions import ActivityHost, app_functions
from .limits import Limits, PayloadTooLarge, QueuePolling, StartPolicy
from .state import RuntimeStatus
from .stats import EngineStats
from .status import OrchestrationStatus
from .store import InMemoryStore, InstanceStore, JsonFileStore

__all__ = [
    "ActivityHost",
    "Clock",
    "DurableEngine",
    "DurableEngineError",
    "EngineCrashedError",
    "EngineStats",
    "InMemoryStore",
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InstanceNotRunningError",
    "InstanceStore",
    "JsonFileStore",
    "Limits",
    "ManualClock",
    "NonDeterminismError",
    "OrchestrationStatus",
    "PayloadTooLarge",
    "QueuePolling",
    "RealClock",
    "RuntimeStatus",
    "SimulatedCrash",
    "StartPolicy",
    "StepBudgetExceeded",
    "UnknownFunctionError",
    "app_functions",
    "run_with_crashes",
]
