"""Part 1: requests made and confirmation delay, per cancellation time and poll schedule.

Every cancellation is a simulator job whose after-cancel script is time-based:
Cancelling for T seconds, then Cancelled (Cancelled at once for T = 0). All schedules run in
this process against one simulator with a manual clock. Requests are counted from the
simulator's request log; the confirmation delay is the simulator-clock time from the job
reaching Cancelled to the Jobs_Get that saw it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import workflow.schedule
from appsettings import DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS
from devtools.simulator import SimulatorServer

from .environment import run_app, schedule_setting
from .loops import run_loop, run_sdk
from .schedules import LOOP_SCHEDULES, LoopSchedule

#: Cancellation times of the issue: 0, 10 s, 60 s, 10 min, 1 h.
CANCEL_SECONDS: tuple[float, ...] = (0.0, 10.0, 60.0, 600.0, 3600.0)
QUICK_CANCEL_SECONDS: tuple[float, ...] = (0.0, 10.0, 60.0, 600.0)
#: Long enough for the 1 h cancellation; the app's own default (30 min) would time out.
TIMEOUT_SECONDS = 6 * 3600.0
#: A zero-delay loop at 0.1 s per request makes 36,000 requests in an hour; cap it anyway.
MAX_LOOP_REQUESTS = 100_000
#: The cancellation time at which the issue's targets are checked.
TARGET_T = 600.0
#: The floor: getJob, cancelJob and one confirming Jobs_Get.
FLOOR_REQUESTS = 3
#: The real azure-quantum SDK's row (get_job, cancel_job, wait_until_completed).
SDK_KEY = "sdk"
SDK_LABEL = "azure-quantum SDK (real)"


@dataclass(frozen=True)
class AppSchedule:
    """A poll schedule of the app: first wait, longest wait, growth factor."""

    first: float
    longest: float
    growth: float = 2.0

    @property
    def key(self) -> str:
        """Short name, e.g. ``app 5/30 x2``."""
        return f"app {self.first:g}/{self.longest:g} x{self.growth:g}"


#: The app's schedule as configured (appsettings defaults, workflow.schedule growth).
CURRENT = AppSchedule(
    DEFAULT_POLL_INTERVAL_SECONDS,
    DEFAULT_MAX_POLL_INTERVAL_SECONDS,
    workflow.schedule.POLL_GROWTH_FACTOR,
)
#: Alternatives run through the same real orchestration, to choose the default from numbers.
CANDIDATES: tuple[AppSchedule, ...] = (
    AppSchedule(1, 30),
    AppSchedule(2, 30),
    AppSchedule(5, 15),
    AppSchedule(5, 60),
    AppSchedule(10, 60),
    AppSchedule(2, 30, 1.5),
)


@dataclass(frozen=True)
class Measured:
    """One cancellation under one schedule."""

    cancel_seconds: float
    schedule: str
    requests: int
    delay_seconds: float | None
    final_status: str
    note: str = ""


def after_cancel_script(seconds: float) -> list[list[object]]:
    """Cancelling for ``seconds`` of simulator time, then Cancelled."""
    if seconds <= 0:
        return [["Cancelled", {}]]
    return [["Cancelling", {"seconds": seconds}], ["Cancelled", {}]]


def seed(simulator: SimulatorServer, seconds: float) -> str:
    """A running job whose cancellation takes ``seconds``; returns its id."""
    lifecycle = {"before": [["Executing", {}]], "after": after_cancel_script(seconds)}
    return simulator.seed_job(str(uuid.uuid4()), lifecycle=lifecycle)


def measure(
    simulator: SimulatorServer, job_id: str, seconds: float, schedule: str, final: str
) -> Measured:
    """Count the job's requests and find the poll that first saw it Cancelled."""
    entries = [e for e in simulator.requests() if (e["jobId"] or "").lower() == job_id]
    with simulator.lock:
        job = simulator.store.find(job_id)
        assert job is not None
        cancelled_at = job.cancelled_at
    delay = None
    if cancelled_at is not None:
        seen = [
            e["clock"]
            for e in entries
            if e["operation"] == "Jobs_Get" and e["clock"] >= cancelled_at - 1e-9
        ]
        if seen:
            delay = max(0.0, seen[0] - cancelled_at)
    return Measured(seconds, schedule, len(entries), delay, final)


def run_app_schedule(
    simulator: SimulatorServer, schedule: AppSchedule, seconds: float, rtt_seconds: float
) -> Measured:
    """The real orchestration with ``schedule``, for a cancellation taking ``seconds``."""
    simulator.clear_requests()
    job_id = seed(simulator, seconds)
    options = {
        "pollIntervalSeconds": schedule.first,
        "maxPollIntervalSeconds": schedule.longest,
        "timeoutSeconds": TIMEOUT_SECONDS,
    }
    with schedule_setting("POLL_GROWTH_FACTOR", schedule.growth):
        run = run_app(simulator, job_id, options, rtt_seconds=rtt_seconds)
    status = run.status
    final = status.output.get("finalStatus", "?") if isinstance(status.output, dict) else "?"
    if status.runtime_status.value != "Completed":
        final = f"{status.runtime_status.value}: {status.output}"
    return measure(simulator, job_id, seconds, schedule.key, final)


def run_loop_schedule(
    simulator: SimulatorServer, schedule: LoopSchedule, seconds: float, rtt_seconds: float
) -> Measured:
    """A naive loop for a cancellation taking ``seconds``."""
    simulator.clear_requests()
    job_id = seed(simulator, seconds)
    loop = run_loop(
        simulator,
        job_id,
        schedule,
        rtt_seconds=rtt_seconds,
        timeout_seconds=TIMEOUT_SECONDS,
        max_requests=MAX_LOOP_REQUESTS,
    )
    result = measure(simulator, job_id, seconds, schedule.key, loop.final_status)
    return replace(result, note="capped") if loop.capped else result


def run_sdk_schedule(simulator: SimulatorServer, seconds: float, rtt_seconds: float) -> Measured:
    """The official SDK for a cancellation taking ``seconds`` (the simulator serves https)."""
    simulator.clear_requests()
    job_id = seed(simulator, seconds)
    run = run_sdk(simulator, job_id, rtt_seconds=rtt_seconds, timeout_seconds=TIMEOUT_SECONDS)
    result = measure(simulator, job_id, seconds, SDK_KEY, run.final_status)
    return replace(result, note="capped") if run.capped else result


def compare(
    simulator: SimulatorServer,
    cancel_seconds: Sequence[float],
    rtt_seconds: float,
    candidates: Sequence[AppSchedule] = CANDIDATES,
) -> list[Measured]:
    """Every schedule for every cancellation time, side by side."""
    results: list[Measured] = []
    for seconds in cancel_seconds:
        results.append(run_app_schedule(simulator, CURRENT, seconds, rtt_seconds))
        for loop in LOOP_SCHEDULES:
            results.append(run_loop_schedule(simulator, loop, seconds, rtt_seconds))
        results.append(run_sdk_schedule(simulator, seconds, rtt_seconds))
        for candidate in candidates:
            if candidate != CURRENT:
                results.append(run_app_schedule(simulator, candidate, seconds, rtt_seconds))
    return results
